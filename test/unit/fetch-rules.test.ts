import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isRetryableStatus,
  isUsableResumeRange,
  parseContentRange,
  parseRetryAfter,
  retryDelayMs,
  ifRangeValidator,
} from '../../src/fetch/http-rules.js';
import { checkFetchableUrl, isLoopbackHost, isSensitiveHeader, planRedirect } from '../../src/fetch/index.js';
import { isSafeEntryName, nearestNames } from '../../src/fetch/archive-names.js';

describe('URL policy', () => {
  it('knows loopback hosts', () => {
    for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1', 'api.localhost'])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['example.com', '128.0.0.1', '127.0.0.256', '10.0.0.1', '[::2]', 'localhost.evil.com']) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });

  it('accepts https anywhere and http only on loopback', () => {
    assert.equal(checkFetchableUrl('https://example.com/a').host, 'example.com');
    assert.equal(checkFetchableUrl('http://127.0.0.1:8080/a').port, '8080');
    assert.throws(() => checkFetchableUrl('http://example.com/a'), {
      code: 'INSECURE_URL',
      message: 'refusing http://example.com/a: plain http is only allowed for loopback hosts',
    });
    assert.throws(() => checkFetchableUrl('ftp://example.com/a'), {
      code: 'UNSUPPORTED_URL',
      message: 'cannot fetch ftp://example.com/a: the ftp scheme is not supported',
    });
    assert.throws(() => checkFetchableUrl('models/x.onnx'), { code: 'UNSUPPORTED_URL' });
  });

  it('treats credentials as sensitive by name', () => {
    for (const name of [
      'Authorization',
      'cookie',
      'Proxy-Authorization',
      'X-Api-Token',
      'PRIVATE-TOKEN',
      'x-api-key',
      'X-Secret',
    ]) {
      assert.equal(isSensitiveHeader(name), true, name);
    }
    for (const name of ['accept', 'user-agent', 'range', 'if-range'])
      assert.equal(isSensitiveHeader(name), false, name);
    assert.equal(isSensitiveHeader('X-Org', ['x-org']), true);
  });
});

describe('planRedirect', () => {
  const headers = { authorization: 'Bearer t', 'x-api-token': 't2', accept: '*/*', range: 'bytes=5-' };

  it('refuses an https -> http downgrade, even to loopback', () => {
    assert.throws(() => planRedirect(new URL('https://example.com/a'), 'http://example.com/b', headers), {
      code: 'REDIRECT_DOWNGRADE',
      message: 'refusing redirect from https://example.com/a to http://example.com/b: it downgrades https to http',
    });
    assert.throws(() => planRedirect(new URL('https://example.com/a'), 'http://127.0.0.1/b', headers), {
      code: 'REDIRECT_DOWNGRADE',
    });
  });

  it('drops credentials across origins (host, port or scheme) and keeps the rest', () => {
    const hop = planRedirect(new URL('https://github.com/x'), 'https://objects.githubusercontent.com/y?sig=1', headers);
    assert.equal(hop.crossedOrigin, true);
    assert.deepEqual(hop.headers, { accept: '*/*', range: 'bytes=5-' });
    assert.equal(planRedirect(new URL('https://a.com/x'), 'https://a.com:8443/y', headers).crossedOrigin, true);
    assert.equal(planRedirect(new URL('http://127.0.0.1/x'), 'https://127.0.0.1/y', headers).crossedOrigin, true);
  });

  it('keeps credentials on the same origin and resolves relative locations', () => {
    const hop = planRedirect(new URL('https://a.com/dir/x'), '../y', headers);
    assert.equal(hop.url.href, 'https://a.com/y');
    assert.equal(hop.crossedOrigin, false);
    assert.deepEqual(hop.headers, headers);
  });

  it('applies the http rule to the target', () => {
    assert.throws(() => planRedirect(new URL('http://127.0.0.1/x'), 'http://example.com/y', headers), {
      code: 'INSECURE_URL',
    });
  });
});

describe('HTTP rules', () => {
  it('parses Content-Range', () => {
    assert.deepEqual(parseContentRange('bytes 100-199/200'), { start: 100, end: 199, total: 200 });
    assert.deepEqual(parseContentRange('bytes 0-9/*'), { start: 0, end: 9 });
    for (const bad of [undefined, '', 'bytes */200', 'bytes 10-5/200', 'bytes 0-200/200', 'items 0-1/2']) {
      assert.equal(parseContentRange(bad), undefined, String(bad));
    }
  });

  it('accepts a resume range only at the offset, to the end, with the known total', () => {
    assert.equal(isUsableResumeRange({ start: 100, end: 199, total: 200 }, 100, 200), true);
    assert.equal(isUsableResumeRange({ start: 100, end: 199, total: 200 }, 100, undefined), true);
    assert.equal(isUsableResumeRange({ start: 0, end: 199, total: 200 }, 100, 200), false, 'wrong start');
    assert.equal(isUsableResumeRange({ start: 100, end: 149, total: 200 }, 100, 200), false, 'not to the end');
    assert.equal(isUsableResumeRange({ start: 100, end: 209, total: 210 }, 100, 200), false, 'another total');
    assert.equal(isUsableResumeRange({ start: 100, end: 199 }, 100, 200), false, 'unknown total');
  });

  it('retries 5xx, 429, 408 and nothing else', () => {
    for (const status of [500, 502, 503, 504, 429, 408]) assert.equal(isRetryableStatus(status), true, String(status));
    for (const status of [400, 401, 403, 404, 410, 416]) assert.equal(isRetryableStatus(status), false, String(status));
  });

  it('reads Retry-After as seconds or a date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  it('backs off exponentially with jitter, capped, and honours a bounded Retry-After', () => {
    const timing = { baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 };
    assert.equal(
      retryDelayMs(1, timing, undefined, () => 0),
      50,
    );
    assert.equal(
      retryDelayMs(1, timing, undefined, () => 1),
      100,
    );
    assert.equal(
      retryDelayMs(3, timing, undefined, () => 1),
      400,
    );
    assert.equal(
      retryDelayMs(10, timing, undefined, () => 1),
      1000,
      'capped',
    );
    assert.equal(
      retryDelayMs(1, timing, 2000, () => 0),
      2000,
    );
    assert.equal(
      retryDelayMs(1, timing, 3_600_000, () => 0),
      5000,
      'a huge Retry-After is bounded',
    );
  });

  it('uses a strong ETag or Last-Modified for If-Range, never a weak ETag', () => {
    assert.equal(ifRangeValidator('"abc"', 'x'), '"abc"');
    assert.equal(ifRangeValidator('W/"abc"', 'Tue, 01 Jan 2025 00:00:00 GMT'), 'Tue, 01 Jan 2025 00:00:00 GMT');
    assert.equal(ifRangeValidator('W/"abc"', undefined), undefined);
  });
});

describe('archive entry names', () => {
  it('refuses names that could escape', () => {
    for (const name of ['a/b.py', 'pkg/x.onnx', 'a..b']) assert.equal(isSafeEntryName(name), true, name);
    for (const name of ['../x', 'a/../../x', '/etc/passwd', 'C:/x', 'a\\b', 'a\0b', ''])
      assert.equal(isSafeEntryName(name), false, name);
  });

  it('finds near matches: same base name first, then small typos', () => {
    const names = ['six.py', 'six-1.16.0.dist-info/METADATA', 'pkg/models/net.onnx', 'other/net.onnx', 'README.md'];
    assert.deepEqual(nearestNames('models/net.onnx', names), ['other/net.onnx', 'pkg/models/net.onnx']);
    assert.deepEqual(nearestNames('sixx.py', names), ['six.py']);
    assert.deepEqual(nearestNames('completely-unrelated-name.bin', names), []);
  });
});
