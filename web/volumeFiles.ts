// Which files of a drop are an nnU-Net model (a results folder holding plans.json, or the zip
// nnUNetv2_export_model_to_zip writes) and which are NIfTI volumes, and the volumes grouped into cases as
// nnUNetv2_predict groups them: CASE_XXXX.nii.gz is channel XXXX of case CASE. Pure: no DOM, no GPU (tested
// in Node, test/web/volumeFiles.test.ts).
import type { PathFile } from './drop.js';

export const NIFTI_FILE = /\.nii(\.gz)?$/i;
export const ZIP_FILE = /\.zip$/i;
const PLANS = /(^|\/)plans\.json$/;

/** A dropped nnU-Net model: its folder's files with paths inside the folder, or a zip. */
export type NnunetDrop = { source: string; files: PathFile[] } | { source: string; zip: PathFile };

/**
 * Splits a drop: the nnU-Net model (the first dropped folder holding a plans.json, anywhere below it, or a
 * .zip), the NIfTI files (outside that folder), and the rest (images and other models, for the 2D app).
 */
export function splitDrop(files: readonly PathFile[]): { model?: NnunetDrop; volumes: PathFile[]; rest: PathFile[] } {
  const plans = files.find((f) => PLANS.test(f.path));
  const top = (f: PathFile) => (f.path.includes('/') ? f.path.slice(0, f.path.indexOf('/')) : '');
  const root = plans ? top(plans) : undefined;
  // a plans.json dropped loose (no folder): every loose file but volumes and images is the model's
  const inModel = (f: PathFile) => root !== undefined && !NIFTI_FILE.test(f.file.name) && (root === '' ? !IMAGE_LIKE.test(f.path) : top(f) === root);
  let model: NnunetDrop | undefined;
  if (root !== undefined) {
    const inside = files.filter(inModel);
    model = {
      source: root || 'the dropped files',
      files: inside.map((f) => ({ file: f.file, path: root ? f.path.slice(root.length + 1) : f.path })),
    };
  }
  const zip = files.find((f) => ZIP_FILE.test(f.file.name) && !inModel(f));
  if (!model && zip) model = { source: zip.file.name, zip };
  const volumes = files.filter((f) => !inModel(f) && f !== zip && NIFTI_FILE.test(f.file.name));
  const rest = files.filter((f) => !inModel(f) && f !== zip && !NIFTI_FILE.test(f.file.name));
  return { ...(model ? { model } : {}), volumes, rest };
}

const IMAGE_LIKE = /\.(png|jpe?g|webp|gif|bmp|avif)$/i;

export interface Case {
  /** CASE of CASE_0000.nii.gz (the output is CASE.nii.gz) */
  id: string;
  /** one file per channel, in channel order */
  files: PathFile[];
}

/** A file's case id and channel: CASE_XXXX.nii(.gz) -> (CASE, XXXX); any other NIfTI is a case of its own, channel 0. */
export function caseOf(name: string): { id: string; channel: number } {
  const m = /^(.+)_(\d{4})\.nii(\.gz)?$/i.exec(name);
  if (m) return { id: m[1], channel: Number(m[2]) };
  return { id: name.replace(NIFTI_FILE, ''), channel: 0 };
}

/**
 * The cases among `volumes` for a model taking `channels` (named `channelNames`): complete cases, and one
 * line for each incomplete one naming the file that is missing (or extra).
 */
export function groupCases(volumes: readonly PathFile[], channelNames: readonly string[]): { cases: Case[]; problems: { id: string; text: string }[] } {
  const byId = new Map<string, Map<number, PathFile>>();
  const problems: { id: string; text: string }[] = [];
  for (const f of volumes) {
    const { id, channel } = caseOf(f.file.name);
    const chans = byId.get(id) ?? new Map<number, PathFile>();
    byId.set(id, chans);
    if (chans.has(channel)) problems.push({ id, text: `${f.path}: channel ${channel} of case ${id} given twice (also ${chans.get(channel)!.path})` });
    else chans.set(channel, f);
  }
  const C = channelNames.length;
  const named = channelNames.map((n, i) => `${String(i).padStart(4, '0')} ${n}`).join(', ');
  const cases: Case[] = [];
  for (const [id, chans] of byId) {
    if (problems.some((p) => p.id === id)) continue;
    const ending = [...chans.values()][0].file.name.match(NIFTI_FILE)![0];
    const missing = Array.from({ length: C }, (_, c) => c).filter((c) => !chans.has(c));
    const extra = [...chans.keys()].filter((c) => c >= C);
    if (missing.length && C > 1 && chans.size === 1 && !/_\d{4}\.nii/i.test([...chans.values()][0].file.name))
      problems.push({
        id,
        text: `${id}${ending}: the model takes ${C} channels (${named}): name the files ${id}_0000${ending} … ${id}_${String(C - 1).padStart(4, '0')}${ending}`,
      });
    else if (missing.length)
      problems.push({
        id,
        text: `${id}_${String(missing[0]).padStart(4, '0')}${ending} is missing: the model takes ${C} channel${C > 1 ? 's' : ''} (${named})`,
      });
    else if (extra.length)
      problems.push({ id, text: `${id}_${String(extra[0]).padStart(4, '0')}${ending}: channel ${extra[0]}, but the model takes ${C} (${named})` });
    else cases.push({ id, files: Array.from({ length: C }, (_, c) => chans.get(c)!) });
  }
  return { cases, problems };
}
