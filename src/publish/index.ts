/**
 * Publishing a zoo (a folder that is also a static site, or GitHub Releases) and pulling from
 * a published one.
 */
export type { Publisher, PublishOptions, PublishReport, PublishEvent, PublishedVersion } from './types.js';
export { DirectoryPublisher, SITE_FILE } from './directory.js';
export { renderSiteHtml } from './site.js';
export { GitHubReleasesPublisher, releaseTag, MAX_ASSET_BYTES, type GitHubPublisherOptions } from './github.js';
export {
  indexLocation,
  loadIndex,
  parseModelSpec,
  resolvePull,
  pullArtifacts,
  type LoadedIndex,
  type LoadIndexOptions,
  type PullRequest,
  type ResolvedPull,
  type PullOptions,
  type PullProgress,
  type PullResult,
  type PulledFile,
} from './pull.js';
