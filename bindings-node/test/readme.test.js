'use strict'
// Every ```ts block of README.md, as pasted, passes `tsc --noEmit --strict`: each block is a
// file of its own in a project like a user's (express and its types installed, `tessera` the
// package's declarations, express-session's types not loaded unless a block imports them).
const { it } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const PKG = path.join(__dirname, '..')

/** The ```ts blocks of `markdown`, in order. */
function tsBlocks (markdown) {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1])
}

it('the TypeScript examples of README.md pass tsc --strict', (t) => {
  const blocks = tsBlocks(fs.readFileSync(path.join(PKG, 'README.md'), 'utf8'))
  assert.ok(blocks.length >= 2, `README.md has TypeScript examples (found ${blocks.length})`)
  // Inside the package folder, so that express and @types/* resolve as in an app's project.
  const dir = fs.mkdtempSync(path.join(PKG, '.readme-ts-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const files = blocks.map((code, i) => {
    const name = `example${i + 1}.ts`
    fs.writeFileSync(path.join(dir, name), code)
    return name
  })
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: 'commonjs',
      target: 'es2022',
      moduleResolution: 'node',
      esModuleInterop: true,
      skipLibCheck: false,
      types: ['node'],
      baseUrl: '.',
      paths: { tessera: ['../index.d.ts'] }
    },
    files
  }))
  const tsc = require.resolve('typescript/bin/tsc')
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120000 })
  assert.equal(r.status, 0, `tsc failed on README.md's ts blocks:\n${r.stdout}${r.stderr}`)
})
