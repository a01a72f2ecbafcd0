import { describe, expect, it } from 'vitest';
import { mergeExpositions } from '../../../src/metrics/merge-exposition.js';

describe('mergeExpositions', () => {
  it.each([
    {
      name: 'sums a counter seen by two workers',
      inputs: ['# TYPE c counter\nc{a="1"} 2\n', '# TYPE c counter\nc{a="1"} 3\n'],
      expected: '# TYPE c counter\nc{a="1"} 5\n',
    },
    {
      name: 'keeps series only one worker has',
      inputs: ['# TYPE c counter\nc{a="1"} 2\n', '# TYPE c counter\nc{a="2"} 1\n'],
      expected: '# TYPE c counter\nc{a="1"} 2\nc{a="2"} 1\n',
    },
    {
      name: 'takes the largest gauge value instead of summing (istio_build stays 1)',
      inputs: ['# TYPE g gauge\ng{tag="x"} 1\n', '# TYPE g gauge\ng{tag="x"} 1\n'],
      expected: '# TYPE g gauge\ng{tag="x"} 1\n',
    },
    {
      name: 'sums histogram buckets, sums and counts',
      inputs: [
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
        '# TYPE h histogram\nh_bucket{le="1"} 0\nh_bucket{le="+Inf"} 1\nh_sum 5\nh_count 1\n',
      ],
      expected: '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 3\nh_sum 8\nh_count 3\n',
    },
    { name: 'no workers: empty', inputs: [], expected: '' },
  ])('$name', ({ inputs, expected }) => {
    expect(mergeExpositions(inputs)).toBe(expected);
  });

  it('keeps families apart and HELP lines once', () => {
    const a = '# HELP a the a\n# TYPE a counter\na 1\n# HELP b the b\n# TYPE b counter\nb 1\n';
    expect(mergeExpositions([a, a])).toBe('# HELP a the a\n# TYPE a counter\na 2\n# HELP b the b\n# TYPE b counter\nb 2\n');
  });
});
