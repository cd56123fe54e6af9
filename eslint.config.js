import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * One no-restricted-imports rule per floor: a relative import that climbs into a folder of a higher floor
 * is an error, so the order cannot erode (ESLint's own rule: no plugin to keep in step with ESLint).
 */
function floorRules(floors) {
  return floors.slice(0, -1).map((floor, i) => {
    const higher = floors.slice(i + 1).flat();
    return {
      files: floor.map((f) => `src/${f}/**`),
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: `^(\\.\\./)+(${higher.join('|')})/`,
                message: `src/${floor.join(', src/')} stand below ${higher.join(', ')}: import only from this floor or a lower one (contract, outcomes < config, records < fhir < mapping, gates, embedded < pipeline < governance, followup < server, conformance, cli).`,
              },
            ],
          },
        ],
      },
    };
  });
}

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', 'test-output/', 'dist/', 'dist.*.tmp/'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'no-console': 'error',
    },
  },
  { files: ['src/cli/**', 'bench/**', 'bin/**', 'scripts/**'], rules: { 'no-console': 'off' } },
  // Floors of src/ (README "How a record travels"), bottom to top; a folder imports only its own floor and those below:
  // contract, outcomes < config, records < fhir < mapping, gates, embedded < pipeline < governance, followup < server, conformance, cli.
  ...floorRules([
    ['contract', 'outcomes'],
    ['config', 'records'],
    ['fhir'],
    ['mapping', 'gates', 'embedded'],
    ['pipeline'],
    ['governance', 'followup'],
    ['server', 'conformance', 'cli'],
  ]),
  // Tests read JSON answers whose shape they assert; typing every one would hide nothing.
  { files: ['tests/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
