/** Types of scripts/build.mjs for the TypeScript that imports it (the test setup). */
export const root: string;
export const dist: string;
export function isBuildCurrent(): boolean;
export function build(): void;
export function ensureBuilt(): boolean;
