// Saving a file the worker made (a result's PNG, a case's NIfTI, the playground's exports): the browser's
// download of a blob URL through a clicked link. DOM only.

/** Offers `f` as a download of MIME type `type`. */
export function save(f: { name: string; bytes: Uint8Array }, type: string): void {
  const url = URL.createObjectURL(new Blob([f.bytes as BlobPart], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: f.name });
  document.body.append(a);
  a.click();
  a.remove();
  // revoked later, not at once: the download may not have read the blob yet
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
