// Grows an embedded store (DATA_DIR/fhir.sqlite, service stopped) to `target` resources directly in SQL:
// every resource, its versions, its lookup rows and its kept governance facts are copied under a new id
// (`<id>c<k>`), `_id` keys following, until the store holds the target. Far faster than writing a million resources through
// FHIR, and what it builds is what the repository itself writes (same tables, same lookup rows).
//   npx tsx bench/grow-store.ts <DATA_DIR> <target>
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DATABASE_FILE } from '../src/embedded/database.js';

/** Copies the store's resources until it holds at least `target`; returns the count and seconds taken. */
export function growStore(dataDir: string, target: number): { resources: number; seconds: number } {
  const start = performance.now();
  const db = new DatabaseSync(join(dataDir, DATABASE_FILE));
  db.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;');
  const count = () => (db.prepare('SELECT count(*) AS n FROM resources').get() as { n: number }).n;
  db.exec('DROP TABLE IF EXISTS temp.base; CREATE TEMP TABLE base AS SELECT rid, type, id, ord, deleted FROM resources');
  const base = count();
  const maxOrd = (db.prepare('SELECT max(ord) AS m FROM resources').get() as { m: number }).m;
  for (let k = 1; count() < target; k++) {
    const suffix = `c${k}`;
    db.exec('BEGIN IMMEDIATE');
    db.prepare(
      `INSERT INTO resources (type, id, ord, deleted, cur) SELECT type, id || ?, ord + ?, deleted, 0 FROM base ORDER BY rid LIMIT ?`,
    ).run(suffix, k * maxOrd, Math.min(base, target - count()));
    db.exec('DROP TABLE IF EXISTS temp.map');
    db.prepare(
      'CREATE TEMP TABLE map AS SELECT b.rid AS old, r.rid AS new FROM base b JOIN resources r ON r.type = b.type AND r.id = b.id || ?',
    ).run(suffix);
    db.exec('CREATE INDEX temp.map_old ON map (old)');
    db.prepare(
      `INSERT INTO versions (rid, version_id, content)
      SELECT m.new, v.version_id, json_set(v.content, '$.id', json_extract(v.content, '$.id') || ?) FROM versions v JOIN map m ON m.old = v.rid ORDER BY v.vid`,
    ).run(suffix);
    db.exec(
      'UPDATE resources SET cur = (SELECT max(vid) FROM versions WHERE versions.rid = resources.rid) WHERE rid IN (SELECT new FROM map)',
    );
    db.prepare(
      `INSERT INTO search_token (code, key, rid)
      SELECT t.code, CASE WHEN t.code LIKE '%._id' THEN t.key || ? ELSE t.key END, m.new FROM search_token t JOIN map m ON m.old = t.rid`,
    ).run(suffix);
    db.exec(
      'INSERT INTO search_date (code, low, high, rid) SELECT d.code, d.low, d.high, m.new FROM search_date d JOIN map m ON m.old = d.rid',
    );
    // The kept governance facts of each copy's current version, naming the copy (its case reference).
    db.prepare(
      `INSERT INTO derived (vid, key, content)
      SELECT r.cur, d.key, replace(d.content, '"' || b.type || '/' || b.id || '"', '"' || b.type || '/' || b.id || ? || '"')
      FROM map m JOIN base b ON b.rid = m.old JOIN resources o ON o.rid = m.old JOIN derived d ON d.vid = o.cur JOIN resources r ON r.rid = m.new`,
    ).run(suffix);
    db.exec('COMMIT');
  }
  // Every copy has its facts, as if this release had written it: the next start has none to make.
  db.exec("UPDATE store_meta SET value = json_set(value, '$.vid', (SELECT max(vid) FROM versions)) WHERE name = 'derived-through'");
  const resources = count();
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  return { resources, seconds: (performance.now() - start) / 1000 };
}

if (process.argv[1]?.endsWith('grow-store.ts')) {
  const [dataDir, target] = process.argv.slice(2);
  if (!dataDir || !target) throw new Error('usage: grow-store.ts <DATA_DIR> <target>');
  const { resources, seconds } = growStore(dataDir, Number(target));
  console.log(`${resources.toLocaleString('en-US')} resources in ${seconds.toFixed(1)} s`);
}
