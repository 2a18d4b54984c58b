// Every module that tools/*.py imports, beyond Python's standard library and tools/ itself, has an install
// line in scripts/setup-system.sh (its TOOLS_PYTHON_PACKAGES table, installed by `--torch`, which `npm test`
// passes). A fresh machine once failed `npm test` because tools/ imported torchvision and only the machine
// CI had run on happened to have it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TOOLS = fileURLToPath(new URL('../../tools/', import.meta.url));
const SETUP = fileURLToPath(new URL('../../scripts/setup-system.sh', import.meta.url));

/** Modules that are not installed by design, each with the reason. */
const NOT_INSTALLED: Record<string, string> = {
  // tools/check_smp.py imports smp from a checkout whose path it is given on the command line
  segmentation_models_pytorch: 'a fetched copy of smp kept outside the repository, given to tools/check_smp.py',
  // the nnU-Net judges (tools/nnunet_*.py) import these from checkouts given on the command line; tools/nnunet_env.py
  // puts them on sys.path and stands in for what their inference code imports but never uses
  nnunetv2: 'an nnU-Net checkout given to the nnU-Net judges (--nnunet or --sources)',
  acvl_utils: 'an acvl_utils checkout given to the nnU-Net judges (--acvl or --sources)',
  batchgenerators: 'a batchgenerators checkout given to the nnU-Net judges (--batchgenerators or --sources)',
  dynamic_network_architectures: 'a dynamic_network_architectures checkout given to the nnU-Net judges (--dna or --sources)',
};

/** Top-level module names imported anywhere in a Python file (every `import` and `from … import`
 *  statement, nested ones included), read with Python's own parser so docstrings do not count. */
const LIST_IMPORTS = `
import ast, json, sys
out = {}
for path in sys.argv[1:]:
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    out[path] = sorted(names)
print(json.dumps({"imports": out, "stdlib": sorted(sys.stdlib_module_names)}))
`;

/** TOOLS_PYTHON_PACKAGES=( module=package … ) in scripts/setup-system.sh, as a map. */
function installTable(): Map<string, string> {
  const text = readFileSync(SETUP, 'utf8');
  const m = /^TOOLS_PYTHON_PACKAGES=\(([^)]*)\)/m.exec(text);
  assert.ok(m, 'scripts/setup-system.sh has no TOOLS_PYTHON_PACKAGES=( … ) table');
  const table = new Map<string, string>();
  for (const entry of m[1].split(/\s+/).filter(Boolean)) {
    const [module, pkg] = entry.split('=');
    assert.ok(module && pkg, `TOOLS_PYTHON_PACKAGES entry ${JSON.stringify(entry)} is not module=package`);
    table.set(module, pkg);
  }
  return table;
}

const Imports = suite('tools/*.py imports have install lines');

Imports('every non-stdlib import of tools/*.py is in TOOLS_PYTHON_PACKAGES', () => {
  const files = readdirSync(TOOLS).filter((f) => f.endsWith('.py'));
  assert.ok(files.length > 0, 'no tools/*.py found');
  const local = new Set(files.map((f) => f.slice(0, -3)));
  const listed = JSON.parse(execFileSync('python3', ['-c', LIST_IMPORTS, ...files.map((f) => TOOLS + f)], { encoding: 'utf8' })) as {
    imports: Record<string, string[]>;
    stdlib: string[];
  };
  const stdlib = new Set(listed.stdlib);
  const table = installTable();
  const missing: string[] = [];
  let external = 0;
  for (const [path, names] of Object.entries(listed.imports)) {
    for (const name of names) {
      if (stdlib.has(name) || local.has(name) || name === '__future__') continue;
      external++;
      if (!table.has(name) && !(name in NOT_INSTALLED)) missing.push(`${name} (${path.slice(TOOLS.length)})`);
    }
  }
  assert.ok(external > 0, 'found no third-party import at all: the import listing is broken');
  assert.equal(missing, [], `imports with no install line in scripts/setup-system.sh TOOLS_PYTHON_PACKAGES: ${missing.join(', ')}`);
});

Imports('TOOLS_PYTHON_PACKAGES names Debian python3-* packages, torchvision among them', () => {
  const table = installTable();
  for (const [module, pkg] of table) assert.match(pkg, /^python3-[a-z0-9.+-]+$/, `${module}=${pkg}`);
  assert.is(table.get('torchvision'), 'python3-torchvision');
  assert.is(table.get('torch'), 'python3-torch');
});

Imports.run();
