import { execFileSync } from 'node:child_process';

/** A pure-Python wheel built by hand (a zip with its dist-info), so the pip path needs no index. */
export function buildWheel(dir: string, name: string, source: string, version = '1.0'): string {
  const script = `
import base64, hashlib, sys, zipfile
d, name, src, v = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
files = {f"{name}/__init__.py": src,
         f"{name}-{v}.dist-info/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {v}\\n",
         f"{name}-{v}.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: fixwright-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
record = []
with zipfile.ZipFile(f"{d}/{name}-{v}-py3-none-any.whl", "w") as z:
    for p, text in files.items():
        data = text.encode(); z.writestr(zipfile.ZipInfo(p, (2020, 1, 1, 0, 0, 0)), data)
        record.append(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}")
    record.append(f"{name}-{v}.dist-info/RECORD,,")
    z.writestr(f"{name}-{v}.dist-info/RECORD", "\\n".join(record) + "\\n")
`;
  execFileSync('python3', ['-c', script, dir, name, source, version]);
  return dir;
}
