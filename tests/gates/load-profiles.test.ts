import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultProfilesDir, loadProfiles, ProfileError } from '../../src/gates/load-profiles.js';

/** A copy of profiles/ in which one gate's expression is replaced. */
function profilesWith(file: string, key: string, expression: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'profiles-'));
  for (const name of readdirSync(defaultProfilesDir).filter((f) => f.endsWith('.json'))) {
    copyFileSync(join(defaultProfilesDir, name), join(dir, name));
  }
  const sd = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const constraint = sd.differential.element[0].constraint.find((c: any) => c.key === key);
  constraint.expression = expression;
  writeFileSync(join(dir, file), JSON.stringify(sd));
  return dir;
}

function startupError(dir: string): string {
  try {
    loadProfiles(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(ProfileError);
    return (err as Error).message;
  }
  throw new Error('profiles loaded although one is broken');
}

describe('profiles at start-up', () => {
  it('loads every profile of the project, each gate compiled', () => {
    const profiles = loadProfiles();
    const keys = [...profiles.values()].flatMap((p) => p.gates.map((g) => g.key));
    expect(keys).toEqual(
      expect.arrayContaining(['ct-receiving-team', 'ee-consent', 'sd-time-limited', 'cr-transparent', 'peer-not-clinical-owner']),
    );
  });

  it('a gate that does not compile stops start-up, naming the file and the key', () => {
    const message = startupError(profilesWith('crisis-transition-bundle.json', 'ct-receiving-team', 'entry.resource.where('));
    expect(message).toContain('crisis-transition-bundle.json');
    expect(message).toContain('ct-receiving-team');
  });

  it('a gate that fails its smoke test (an unknown function) stops start-up, naming the file and the key', () => {
    const message = startupError(profilesWith('step-down-bundle.json', 'sd-goals-documented', 'entry.resource.noSuchFunction()'));
    expect(message).toContain('step-down-bundle.json');
    expect(message).toContain('sd-goals-documented');
    expect(message).toContain('smoke test');
  });

  it('a gate key defined twice stops start-up', () => {
    const dir = profilesWith('step-down-bundle.json', 'sd-goals-documented', 'true');
    const sd = JSON.parse(readFileSync(join(dir, 'step-down-bundle.json'), 'utf8'));
    sd.differential.element[0].constraint[0].key = 'ct-receiving-team';
    writeFileSync(join(dir, 'step-down-bundle.json'), JSON.stringify(sd));
    expect(startupError(dir)).toContain('ct-receiving-team');
  });

  it('a gate with field checks whose expression is not their conjunction stops start-up', () => {
    const dir = profilesWith('peer-pathway-careplan.json', 'peer-not-clinician', 'true');
    const message = startupError(dir);
    expect(message).toContain('peer-pathway-careplan.json');
    expect(message).toContain('conjunction');
  });

  it('one gate on several resource profiles is one rule: the same key with other words stops start-up', () => {
    const profiles = loadProfiles();
    const on = [...profiles.values()]
      .filter((p) => p.gates.some((g) => g.key === 'peer-not-clinician'))
      .map((p) => p.type)
      .sort();
    expect(on).toEqual(['CarePlan', 'Communication', 'Consent']);
    const dir = profilesWith(
      'peer-pathway-consent.json',
      'peer-not-clinician',
      JSON.parse(readFileSync(join(defaultProfilesDir, 'peer-pathway-consent.json'), 'utf8')).differential.element[0].constraint[0]
        .expression,
    );
    const sd = JSON.parse(readFileSync(join(dir, 'peer-pathway-consent.json'), 'utf8'));
    sd.differential.element[0].constraint[0].human = 'Something else.';
    writeFileSync(join(dir, 'peer-pathway-consent.json'), JSON.stringify(sd));
    expect(startupError(dir)).toContain('peer-not-clinician');
  });
});
