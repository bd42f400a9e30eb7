/** File name of the stamp in dist/. */
export const STAMP_FILE: string;
/** The hash of the TypeScript sources under `srcDir` as they are on disk now. */
export function sourceStamp(srcDir: string): string;
