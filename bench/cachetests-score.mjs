// Scores two results files of the HTTP cache test suite
// (github.com/http-tests/cache-tests), as written by its command-line
// client, against each other: a Markdown table of the tests each passes,
// per suite and in all. Used by bench/cachetests.sh:
//
//   CACHE_TESTS=DIR node bench/cachetests-score.mjs fetch.json nginx.json
//
// A test passes when its result is true (its kind, required, optimal or
// check, aside).
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const dir = process.env.CACHE_TESTS
const suites = (await import(pathToFileURL(path.join(dir, 'tests', 'index.mjs')))).default
const [fetchRes, nginxRes] = process.argv.slice(2, 4).map(f => JSON.parse(fs.readFileSync(f, 'utf8')))

const passed = (res, tests) => tests.filter(t => res[t.id] === true).length
const rows = []
let total = 0; let totalFetch = 0; let totalNginx = 0
for (const s of suites) {
  const f = passed(fetchRes, s.tests); const n = passed(nginxRes, s.tests)
  total += s.tests.length; totalFetch += f; totalNginx += n
  rows.push(`| ${s.id} | ${s.tests.length} | ${f} | ${n} |${f > n ? ' more' : f < n ? ' **fewer**' : ' same'} |`)
}
console.log('| suite | tests | fetch proxy | nginx proxy_cache | fetch proxy passes |')
console.log('|---|---|---|---|---|')
for (const r of rows) console.log(r)
console.log(`| all | ${total} | ${totalFetch} | ${totalNginx} |${totalFetch > totalNginx ? ' more' : ' **not more**'} |`)
