/**
 * Prototype-pollution keys and nesting depth are refused by the one input-cleaning step of every way in
 * (records/json-text.ts), together with duplicate keys, broken Unicode and control characters.
 */
export { forbiddenJsonKeys, maxJsonDepth } from '../records/json-text.js';
