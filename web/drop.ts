// Files from a drop or a picker, with their paths inside dropped or picked folders, sorted into model
// files (web/modelFiles.ts MODEL_FILE) and images. A folder's other files (README.md, .DS_Store) are
// skipped; a file given on its own that is neither is kept as an image, so its card says what it is.
import { MODEL_FILE } from './modelFiles.js';

export interface PathFile {
  file: File;
  /** 'folder/sub/name.png' inside a dropped or picked folder, else the name */
  path: string;
}

export const IMAGE_FILE = /\.(png|jpe?g|webp|gif|bmp|avif)$/i;

/** The files of a drop, folders walked (webkitGetAsEntry); the entries are taken before the first await,
 *  as the browser empties the DataTransfer when the event handler returns. */
export async function filesFromDrop(dt: DataTransfer): Promise<PathFile[]> {
  const entries: (FileSystemEntry | File)[] = [];
  for (const item of dt.items) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    const file = entry ? null : item.getAsFile();
    if (entry) entries.push(entry);
    else if (file) entries.push(file);
  }
  const out: PathFile[] = [];
  for (const e of entries) {
    if (e instanceof File) out.push({ file: e, path: e.name });
    else await walk(e, out);
  }
  return out;
}

async function walk(entry: FileSystemEntry, out: PathFile[]): Promise<void> {
  const path = entry.fullPath.replace(/^\//, '');
  if (entry.isFile) {
    const file = await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail));
    out.push({ file, path });
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries gives at most 100 entries a call: call until it gives none
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) break;
    for (const e of batch) await walk(e, out);
  }
}

/** The files of an <input type=file> (webkitRelativePath is set for a picked folder). */
export function filesFromInput(input: HTMLInputElement): PathFile[] {
  return [...(input.files ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

/** Model files and images; files inside folders that are neither are left out. */
export function sortFiles(files: PathFile[]): { model: PathFile[]; images: PathFile[]; skipped: PathFile[] } {
  const model: PathFile[] = [];
  const images: PathFile[] = [];
  const skipped: PathFile[] = [];
  for (const f of files) {
    const inFolder = f.path.includes('/');
    if (MODEL_FILE.test(f.file.name)) model.push(f);
    else if (IMAGE_FILE.test(f.file.name) || f.file.type.startsWith('image/') || !inFolder) images.push(f);
    else skipped.push(f);
  }
  return { model, images, skipped };
}
