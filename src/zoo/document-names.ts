/** File names of a version's documents beside a pulled model: several models can share one folder. */
export function pulledDocumentName(model: string, version: string, what: 'license' | 'manifest' | 'card'): string {
  return `${model}-${version}-${what === 'license' ? 'LICENSE.txt' : what === 'manifest' ? 'manifest.json' : 'README.md'}`;
}
