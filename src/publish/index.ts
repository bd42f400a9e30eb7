/**
 * Publishing a zoo (a folder that is also a static site, or GitHub Releases) and pulling from
 * a published one.
 */
export type { Publisher, PublishOptions, PublishReport, PublishEvent, PublishedVersion } from './types.js';
export { DirectoryPublisher, SITE_FILE, type DirectoryPublisherOptions } from './directory.js';
export { CLIENT_FILES, renderPullClients, type ClientDefaults } from './clients.js';
export {
  featuredVersion,
  renderCardHtml,
  renderModelPages,
  renderSiteHtml,
  type SiteOptions,
  type SitePage,
} from './site.js';
export { GitHubReleasesPublisher, releaseTag, MAX_ASSET_BYTES, type GitHubPublisherOptions } from './github.js';
export {
  INDEX_RELEASE_TAG,
  DEFAULT_GITHUB_URL,
  githubIndexUrl,
  parseGitHubTarget,
  releaseAssetUrl,
  relativeReleaseUrl,
} from './github-layout.js';
export {
  MAX_INDEX_BYTES,
  MAX_DOCUMENT_BYTES,
  checkIndexedUrl,
  defaultPullCacheDir,
  indexCredentialsFromEnv,
  indexLocation,
  loadIndex,
  pulledDocumentName,
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
  type PulledRole,
} from './pull.js';
export { publishRefusals, type PublishRefusal, type PublishGateOptions } from './gates.js';
