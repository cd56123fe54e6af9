import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Patient, Task } from '@medplum/fhirtypes';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { DATABASE_FILE, openDatabase, SCHEMA_VERSION } from '../../src/embedded/database.js';
import { IMPORTED_JOURNAL_FILE, JOURNAL_FILE, type JournalOp } from '../../src/embedded/journal.js';
import { startHarness } from './harness.js';
import { dataDirs } from '../harness.js';

const dataDir = dataDirs('embedded-store-');

const mode = (path: string) => statSync(path).mode & 0o777;

describe('files', () => {
  it('creates DATA_DIR 0700 and the database, -wal and -shm 0600; tightens a DATA_DIR that was readable by others', async () => {
    const fresh = join(dataDir(), 'nested', 'data');
    const h = await startHarness({ dataDir: fresh });
    try {
      expect((await h.request('POST', 'Patient', { resourceType: 'Patient', gender: 'other' })).status).toBe(201);
      expect(mode(fresh)).toBe(0o700);
      for (const file of [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`]) {
        expect(existsSync(join(fresh, file)), file).toBe(true);
        expect(mode(join(fresh, file)), file).toBe(0o600);
      }
    } finally {
      await h.stop();
    }

    const loose = dataDir();
    chmodSync(loose, 0o755);
    const again = await startHarness({ dataDir: loose });
    await again.stop();
    expect(mode(loose)).toBe(0o700);
    expect(mode(join(loose, DATABASE_FILE))).toBe(0o600);
  });

  it('refuses, saying why, a store written by a newer version', () => {
    const dir = dataDir();
    const db = openDatabase(dir);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openDatabase(dir)).toThrow(/newer version/);
  });
});

describe('upgrading a DATA_DIR of the NDJSON journal', () => {
  it('imports the journal once (versions, history, deletes, searches), renames it owner-only, and ignores its torn last line', async () => {
    const dir = dataDir();
    const v1: Patient = {
      resourceType: 'Patient',
      id: 'old-1',
      meta: { versionId: 'a1', lastUpdated: '2025-03-01T10:00:00.000Z' },
      identifier: [{ system: 'urn:example:mrn', value: 'OLD-1' }],
    };
    const v2: Patient = { ...v1, meta: { versionId: 'a2', lastUpdated: '2025-03-02T10:00:00.000Z' }, gender: 'female' };
    const gone: Task = {
      resourceType: 'Task',
      id: 'old-task',
      status: 'requested',
      intent: 'order',
      meta: { versionId: 'b1', lastUpdated: '2025-03-01T10:00:00.000Z' },
    };
    const units: JournalOp[][] = [
      [
        { op: 'put', resource: v1 },
        { op: 'put', resource: gone },
      ],
      [{ op: 'put', resource: v2 }],
      [{ op: 'delete', resourceType: 'Task', id: 'old-task' }],
    ];
    mkdirSync(dir, { recursive: true });
    // The last line was being written when the old version crashed: it was never acknowledged.
    writeFileSync(
      join(dir, JOURNAL_FILE),
      units.map((u) => JSON.stringify(u)).join('\n') + '\n[{"op":"put","resource":{"resourceType":"Pat',
      { mode: 0o644 },
    );

    // The conformance resources are left out: the version counts below are the journal's alone.
    const h = await startHarness({ dataDir: dir, conformanceResources: [] });
    try {
      const read = await h.request('GET', 'Patient/old-1');
      expect(read.headers.get('etag')).toBe('W/"a2"');
      expect(((await read.json()) as Patient).gender).toBe('female');
      const history = (await (await h.request('GET', 'Patient/old-1/_history')).json()) as Bundle;
      expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['a2', 'a1']);
      expect((await h.request('GET', 'Task/old-task')).status).toBe(404);
      const found = (await (await h.request('GET', 'Patient?identifier=urn:example:mrn|OLD-1')).json()) as Bundle;
      expect(found.total).toBe(1);
      // The old store had the demo directory or not: an imported store is never empty, so it is not loaded.
      expect((await h.request('GET', 'Patient/example-person')).status).toBe(404);
    } finally {
      await h.stop();
    }
    expect(existsSync(join(dir, JOURNAL_FILE))).toBe(false);
    expect(mode(join(dir, IMPORTED_JOURNAL_FILE))).toBe(0o600);

    // A journal put back by mistake is not imported a second time.
    writeFileSync(join(dir, JOURNAL_FILE), readFileSync(join(dir, IMPORTED_JOURNAL_FILE)));
    const again = await startHarness({ dataDir: dir, conformanceResources: [] });
    try {
      expect(again.fhir.repo.versionCount()).toBe(3);
    } finally {
      await again.stop();
    }
  });
});

describe('two connections on one DATA_DIR', () => {
  it('a search cached by one is re-run once the other has written (PRAGMA data_version), and the demo directory is loaded once', async () => {
    const dir = dataDir();
    const a = await startHarness({ dataDir: dir });
    const b = await startHarness({ dataDir: dir });
    try {
      expect(b.fhir.repo.count()).toBe(a.fhir.repo.count());
      const task = (value: string): Task => ({
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        identifier: [{ system: 'urn:example:two', value }],
        code: { text: 'two' },
      });
      for (let i = 0; i < 3; i++) expect((await a.request('POST', 'Task', task(`t-${i}`))).status).toBe(201);
      const page1 = (await (
        await b.request('GET', 'Task?identifier=urn:example:two|t-0,urn:example:two|t-1,urn:example:two|t-2,urn:example:two|t-3&_count=2')
      ).json()) as Bundle;
      expect(page1.total).toBe(3);
      expect((await a.request('POST', 'Task', task('t-3'))).status).toBe(201);
      const page2 = (await (
        await b.request(
          'GET',
          'Task?identifier=urn:example:two|t-0,urn:example:two|t-1,urn:example:two|t-2,urn:example:two|t-3&_count=2&_offset=2',
        )
      ).json()) as Bundle;
      expect(page2.total).toBe(4);
      expect(page2.entry?.map((e) => (e.resource as Task).identifier?.[0]?.value)).toEqual(['t-2', 't-3']);
      // If-Match is decided against what the other connection committed.
      const current = (await (await a.request('GET', `Task/${page2.entry?.[1]?.resource?.id}`)).json()) as Task;
      expect(
        (await b.request('PUT', `Task/${current.id}`, { ...current, status: 'accepted' }, { 'if-match': `W/"${current.meta?.versionId}"` }))
          .status,
      ).toBe(200);
      expect(
        (
          await a.request(
            'PUT',
            `Task/${current.id}`,
            { ...current, status: 'cancelled' },
            { 'if-match': `W/"${current.meta?.versionId}"` },
          )
        ).status,
      ).toBe(412);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});

describe('backups (README "Embedded FHIR server at a site\'s size")', () => {
  it("the README's node:sqlite online backup, run as written against a running store, holds what was acknowledged", async () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const command = readme.split('\n').find((l) => l.includes('backup(db,'));
    expect(command, "the README's backup one-liner").toBeDefined();
    const cwd = mkdtempSync(join(tmpdir(), 'ppf-backup-'));
    const h = await startHarness({ dataDir: join(cwd, 'data') });
    try {
      const created = await h.request('POST', 'Patient', {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:example:mrn', value: 'BACKUP-1' }],
      });
      expect(created.status).toBe(201);
      // While the service runs: the WAL holds the latest commit, and the online backup must include it.
      // From the project directory, as the README says (npx finds the project's Node 22); only the paths point here.
      const localised = (command as string)
        .replaceAll('data/fhir.sqlite', join(cwd, 'data/fhir.sqlite'))
        .replaceAll("'fhir-backup.sqlite'", `'${join(cwd, 'fhir-backup.sqlite')}'`);
      execFileSync('bash', ['-c', localised], { cwd: join(import.meta.dirname, '../..'), stdio: 'pipe' });
      expect(statSync(join(cwd, 'fhir-backup.sqlite')).mode & 0o077).toBe(0);
      const restored = new DatabaseSync(join(cwd, 'fhir-backup.sqlite'), { readOnly: true });
      const rows = restored
        .prepare(
          "SELECT count(*) AS n FROM resources r JOIN versions v ON v.vid = r.cur WHERE r.type = 'Patient' AND v.content LIKE '%BACKUP-1%'",
        )
        .get() as { n: number };
      restored.close();
      expect(rows.n).toBe(1);
    } finally {
      await h.stop();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
