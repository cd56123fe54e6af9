import type { Resource, Task } from '@medplum/fhirtypes';
import { OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { openDatabase, openReader } from '../../src/embedded/database.js';
import { EmbeddedRepository, type Derivation, type DerivedMatch } from '../../src/embedded/repository.js';

/**
 * EmbeddedRepository keeps a Derivation's value beside each current version and visitDerived reads a
 * search's matches as those values (the governance facts: tests/governance/stored-facts.test.ts). A value
 * must always be the one of the version a search finds, and a value it cannot trust is never handed out.
 */
beforeAll(() => {
  loadFhirDefinitions();
});

/** A derivation of a Task's status and note count, made under `key`. */
function derivation(key: string): Derivation {
  return {
    key,
    types: ['Task'],
    derive: (r: Resource) => (r.resourceType === 'Task' ? { status: r.status, notes: r.note?.length ?? 0 } : undefined),
  };
}

function task(code: string, extra: Partial<Task> = {}): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: 'urn:example:derived', code }] },
    ...extra,
  };
}

async function visited(
  repo: EmbeddedRepository,
  query: Record<string, string> = { code: 'urn:example:derived|a' },
): Promise<DerivedMatch[]> {
  const seen: DerivedMatch[] = [];
  await repo.visitDerived('Task', query, (m) => seen.push(m));
  return seen;
}

describe('EmbeddedRepository.visitDerived', () => {
  it("hands out each match's value for its current version, in the search's order, and leaves out deleted ones", async () => {
    const repo = new EmbeddedRepository(openDatabase(undefined), undefined, derivation('k1'));
    try {
      const first = await repo.createResource(task('a'));
      const second = await repo.createResource(task('a', { note: [{ text: 'x' }] }));
      await repo.createResource(task('b'));
      const third = await repo.createResource(task('a'));
      expect(await visited(repo)).toEqual([
        { derived: { status: 'requested', notes: 0 } },
        { derived: { status: 'requested', notes: 1 } },
        { derived: { status: 'requested', notes: 0 } },
      ]);
      // An update's value replaces the previous version's; a delete leaves the resource out.
      await repo.updateResource({ ...first, status: 'in-progress' });
      await repo.deleteResource('Task', second.id);
      expect(await visited(repo)).toEqual([
        { derived: { status: 'in-progress', notes: 0 } },
        { derived: { status: 'requested', notes: 0 } },
      ]);
      // Only the current version keeps a value.
      const rows = repo.database.prepare('SELECT count(*) AS n FROM derived').get() as { n: number };
      expect(rows.n).toBe(4);
      // The same matches as a search, whose filters it reads as a FHIR search URL's.
      const searched = await repo.search(parseSearchRequest('Task?code=urn:example:derived|a'));
      expect(searched.entry?.map((e) => e.resource?.id)).toEqual([first.id, third.id]);
    } finally {
      await repo.close();
    }
  });

  it("hands out the resource when no value is kept: a derive that throws, a type it makes none for, another key's values", async () => {
    const db = openDatabase(undefined);
    const throwing: Derivation = {
      key: 'k1',
      types: ['Task'],
      derive: (r) => {
        if ((r as Task).status === 'cancelled') throw new Error('cannot derive');
        return derivation('k1').derive(r);
      },
    };
    const repo = new EmbeddedRepository(db, undefined, throwing);
    // The write goes on when its value cannot be made.
    const cancelled = await repo.createResource(task('a', { status: 'cancelled' }));
    const kept = await repo.createResource(task('a'));
    expect(await visited(repo)).toEqual([{ resource: cancelled }, { derived: { status: 'requested', notes: 0 } }]);
    // Reopened under another key (another release or time zone): nothing kept under k1 is handed out.
    const other = new EmbeddedRepository(db, undefined, derivation('k2'));
    expect(await visited(other)).toEqual([{ resource: cancelled }, { resource: kept }]);
    // Without a derivation, every match is its resource.
    expect(await visited(new EmbeddedRepository(db))).toEqual([{ resource: cancelled }, { resource: kept }]);
    await other.close();
  });

  it('a store of an older release gains the table at open, and its resources are handed out whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'derived-'));
    try {
      const old = new EmbeddedRepository(openDatabase(dir), openReader(dir));
      const written = await old.createResource(task('a'));
      // As an older release left it: no derived table.
      old.database.exec('DROP TABLE derived');
      await old.close();
      const reopened = new EmbeddedRepository(openDatabase(dir), openReader(dir), derivation('k1'));
      expect(await visited(reopened)).toEqual([{ resource: written }]);
      await reopened.createResource(task('a', { note: [{ text: 'x' }] }));
      expect(await visited(reopened)).toEqual([{ resource: written }, { derived: { status: 'requested', notes: 1 } }]);
      // The values the older release did not keep are made in the background (start.ts), then read.
      expect(await reopened.deriveMissing()).toBe(1);
      expect(await visited(reopened)).toEqual([
        { derived: { status: 'requested', notes: 0 } },
        { derived: { status: 'requested', notes: 1 } },
      ]);
      expect(await reopened.deriveMissing()).toBe(0);
      await reopened.close();
      // Under another key (a new release, another time zone), every value is made again.
      const next = new EmbeddedRepository(openDatabase(dir), openReader(dir), { ...derivation('k2'), types: ['Task', 'Patient'] });
      await next.createResource({ resourceType: 'Patient' });
      expect(await next.deriveMissing()).toBe(2);
      expect(await visited(next)).toEqual([{ derived: { status: 'requested', notes: 0 } }, { derived: { status: 'requested', notes: 1 } }]);
      expect(next.database.prepare('SELECT DISTINCT key FROM derived').all()).toEqual([{ key: 'k2' }]);
      await next.close();
      // Back to the first key (a site that set its time zone back; outside tester): made again, not skipped.
      const back = new EmbeddedRepository(openDatabase(dir), openReader(dir), derivation('k1'));
      expect(await back.deriveMissing()).toBe(2);
      // What it writes afterwards has its values as written: a clean close moves the mark past them.
      await back.createResource(task('b'));
      await back.close();
      const marked = (db: ReturnType<typeof openDatabase>) =>
        JSON.parse((db.prepare("SELECT value FROM store_meta WHERE name = 'derived-through'").get() as { value: string }).value) as {
          key: string;
          vid: number;
        };
      const check = openDatabase(dir);
      expect(marked(check)).toEqual({
        key: 'k1',
        vid: (check.prepare('SELECT max(vid) AS top FROM versions').get() as { top: number }).top,
      });
      check.close();
      // A version written after the mark by a release that keeps no values (a downgrade, then this release
      // again): the next start looks at the versions written since the mark, and only at them.
      const older = new EmbeddedRepository(openDatabase(dir), openReader(dir));
      const [first] = (await visited(older)).map((m) => ('resource' in m ? m.resource : undefined));
      await older.updateResource({ ...(first as Task), status: 'in-progress' });
      await older.close();
      const again = new EmbeddedRepository(openDatabase(dir), openReader(dir), derivation('k1'));
      expect(await visited(again)).toEqual([
        { resource: expect.objectContaining({ status: 'in-progress' }) },
        { derived: { status: 'requested', notes: 1 } },
      ]);
      expect(await again.deriveMissing()).toBe(1);
      expect(await again.deriveMissing()).toBe(0);
      expect(await visited(again)).toEqual([
        { derived: { status: 'in-progress', notes: 0 } },
        { derived: { status: 'requested', notes: 1 } },
      ]);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("with another key's process on the same store, the mark never moves past what that process wrote; a mark that does not read is made again", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'derived-keys-'));
    try {
      const open = (key: string) => new EmbeddedRepository(openDatabase(dir), openReader(dir), derivation(key));
      const utc = open('utc');
      await utc.createResource(task('a'));
      await utc.createResource(task('a'));
      expect(await utc.deriveMissing()).toBe(0);
      // A process with another time zone starts on the same DATA_DIR and makes every value under its key.
      const kiri = open('kiri');
      expect(await kiri.deriveMissing()).toBe(2);
      // The first process writes meanwhile, under its own key; then both stop cleanly (outside tester).
      await utc.createResource(task('a'));
      await kiri.close();
      await utc.close();
      const again = open('kiri');
      expect(await again.deriveMissing()).toBe(1);
      expect((await visited(again)).every((m) => 'derived' in m)).toBe(true);
      await again.close();
      // A mark that does not read as {key, vid}: every resource is looked at again (one value lost meanwhile is
      // made), and the mark written anew — not a failed start each time (outside tester).
      const db = openDatabase(dir);
      db.prepare("UPDATE store_meta SET value = 'xyz' WHERE name = 'derived-through'").run();
      db.prepare('DELETE FROM derived WHERE vid = (SELECT min(vid) FROM derived)').run();
      db.close();
      const repaired = open('kiri');
      expect(await repaired.deriveMissing()).toBe(1);
      const mark = repaired.database.prepare("SELECT value FROM store_meta WHERE name = 'derived-through'").get() as { value: string };
      expect(JSON.parse(mark.value)).toMatchObject({ key: 'kiri' });
      await repaired.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses _include: it reads matches only', async () => {
    const repo = new EmbeddedRepository(openDatabase(undefined), undefined, derivation('k1'));
    await expect(visited(repo, { _include: 'Task:owner' })).rejects.toBeInstanceOf(OperationOutcomeError);
    await repo.close();
  });
});
