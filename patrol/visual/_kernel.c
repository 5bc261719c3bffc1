/* Patrol's compiled comparator kernel: pixelmatch 7.2.0's per-pixel loop in C.
 *
 * The arithmetic is pixelmatch's (mapbox/pixelmatch, ISC), operation for
 * operation in double precision, so that counts are exactly equal: it must be
 * built without -ffast-math and with -ffp-contract=off (a fused multiply-add
 * rounds differently from V8's separate multiply and add).
 *
 * patrol_diff() judges the rows [row0, row1) of two HxW images of 4-byte
 * pixels (RGBA or BGRA: ri/gi/bi give the channel offsets; alpha is byte 3).
 * Neighbour rows outside the band are read, never written, so bands can be
 * judged on several threads at once.  For each pixel over the threshold it
 * appends the flat index to diff_idx or aa_idx (each with room for the band's
 * pixels); mask (bool HxW, or NULL) marks pixels to ignore.
 * counts[0..2] receive: counted, anti-aliased, changed at all.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PHI 1.618033988749895
#define PHI2 2.618033988749895

typedef struct {
    const uint8_t *a, *b;
    const uint32_t *a32, *b32;
    int64_t width, height;
    int checkerboard;
} Images;

static inline void background(int64_t k, int checkerboard, double *rb, double *gb, double *bb) {
    if (!checkerboard) {
        *rb = 255; *gb = 255; *bb = 255;
        return;
    }
    /* JS: 48 + 159 * ((k / 1.618033988749895 | 0) % 2); `| 0` truncates to int32 */
    *rb = 48 + 159 * (double)(k % 2);
    *gb = 48 + 159 * (double)(((int32_t)(int64_t)(k / PHI)) % 2);
    *bb = 48 + 159 * (double)(((int32_t)(int64_t)(k / PHI2)) % 2);
}

/* The per-channel difference of two pixels as pixelmatch takes it: straight, or, when
   either is translucent, both blended over the background at byte offset k. Shared by
   colorDelta and brightnessDelta; same operations in the same order as pixelmatch. */
static inline void channel_deltas(const uint8_t *p1, const uint8_t *p2, int64_t k, int ri, int gi, int bi,
                                  int checkerboard, double *dr, double *dg, double *db) {
    *dr = (double)p1[ri] - p2[ri];
    *dg = (double)p1[gi] - p2[gi];
    *db = (double)p1[bi] - p2[bi];
    const int a1 = p1[3], a2 = p2[3];
    if (a1 < 255 || a2 < 255) {
        double rb, gb, bb;
        const double da = (double)(a1 - a2);
        background(k, checkerboard, &rb, &gb, &bb);
        *dr = ((double)p1[ri] * a1 - (double)p2[ri] * a2 - rb * da) / 255;
        *dg = ((double)p1[gi] * a1 - (double)p2[gi] * a2 - gb * da) / 255;
        *db = ((double)p1[bi] * a1 - (double)p2[bi] * a2 - bb * da) / 255;
    }
}

/* pixelmatch's colorDelta (sign dropped: only |delta| is used) */
static inline double color_delta(const uint8_t *p1, const uint8_t *p2, int64_t k, int ri, int gi, int bi,
                                 int checkerboard) {
    double dr, dg, db;
    channel_deltas(p1, p2, k, ri, gi, bi, checkerboard, &dr, &dg, &db);
    const double y = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223;
    const double i = dr * 0.59597799 - dg * 0.27417610 - db * 0.32180189;
    const double q = dr * 0.21147017 - dg * 0.52261711 + db * 0.31114694;
    return 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q;
}

/* pixelmatch's brightnessDelta: centre c (byte offset k) against neighbour n of the same image */
static inline double brightness_delta(const uint8_t *c, const uint8_t *n, int64_t k, int ri, int gi, int bi,
                                      int checkerboard) {
    if (c[0] == n[0] && c[1] == n[1] && c[2] == n[2] && c[3] == n[3]) return 0;
    double dr, dg, db;
    channel_deltas(c, n, k, ri, gi, bi, checkerboard, &dr, &dg, &db);
    return dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223;
}

/* pixelmatch's hasManySiblings: 3+ identical neighbours (the image edge counting one) */
static inline int many_siblings(const uint32_t *img, int64_t x1, int64_t y1, int64_t w, int64_t h) {
    const int64_t x0 = x1 > 0 ? x1 - 1 : 0, y0 = y1 > 0 ? y1 - 1 : 0;
    const int64_t x2 = x1 + 1 < w ? x1 + 1 : w - 1, y2 = y1 + 1 < h ? y1 + 1 : h - 1;
    const uint32_t val = img[y1 * w + x1];
    int zeroes = (x1 == x0 || x1 == x2 || y1 == y0 || y1 == y2) ? 1 : 0;
    for (int64_t x = x0; x <= x2; x++) {
        for (int64_t y = y0; y <= y2; y++) {
            if (x == x1 && y == y1) continue;
            zeroes += val == img[y * w + x];
            if (zeroes > 2) return 1;
        }
    }
    return 0;
}

/* antialiased() for a pixel off the image's edge whose 3x3 block is opaque in img: the
 * 8 brightness deltas without branches (no mispredicted jumps), then the same verdict.
 * Exact: more than 2 zero deltas end pixelmatch's loop with "no" whatever their order,
 * and its darkest / brightest are the first strict minimum / maximum in visiting order. */
static inline int antialiased_opaque(const uint8_t *img, const Images *im, int64_t x1, int64_t y1,
                                     int ri, int gi, int bi) {
    const int64_t w = im->width;
    const uint8_t *c = img + (y1 * w + x1) * 4;
    static const int DX[8] = {-1, -1, -1, 0, 0, 1, 1, 1}, DY[8] = {-1, 0, 1, -1, 1, -1, 0, 1};
    double d[8];
    int zeroes = 0;
    for (int k = 0; k < 8; k++) {
        const uint8_t *n = c + (DY[k] * w + DX[k]) * 4;
        d[k] = ((double)c[ri] - n[ri]) * 0.29889531 + ((double)c[gi] - n[gi]) * 0.58662247 +
               ((double)c[bi] - n[bi]) * 0.11448223;
        zeroes += d[k] == 0;
    }
    if (zeroes > 2) return 0;
    double min = 0, max = 0;
    int lo = -1, hi = -1;
    for (int k = 0; k < 8; k++) {
        const int below = d[k] < min, above = d[k] > max;
        min = below ? d[k] : min;
        lo = below ? k : lo;
        max = above ? d[k] : max;
        hi = above ? k : hi;
    }
    if (lo < 0 || hi < 0) return 0;
    const int64_t h = im->height;
    const int64_t lx = x1 + DX[lo], ly = y1 + DY[lo], hx = x1 + DX[hi], hy = y1 + DY[hi];
    return (many_siblings(im->a32, lx, ly, w, h) && many_siblings(im->b32, lx, ly, w, h)) ||
           (many_siblings(im->a32, hx, hy, w, h) && many_siblings(im->b32, hx, hy, w, h));
}

static inline int opaque_block(const uint8_t *c, int64_t w) {
    const uint8_t *up = c - w * 4, *down = c + w * 4;
    return (up[-1] & up[3] & up[7] & c[-1] & c[3] & c[7] & down[-1] & down[3] & down[7]) == 255;
}

/* More than two of an interior pixel's 8 neighbours are the very same pixel: each of those
 * is a zero brightness delta, so antialiased() says "no" whatever the others are. Integer
 * compares only: a flat background (most of a light/dark theme pair, where every pixel
 * differs) is answered without computing a delta. */
static inline int flat_around(const uint32_t *c, int64_t w) {
    const uint32_t v = c[0];
    const uint32_t *up = c - w, *down = c + w;
    return (up[-1] == v) + (up[0] == v) + (up[1] == v) + (c[-1] == v) + (c[1] == v) +
           (down[-1] == v) + (down[0] == v) + (down[1] == v) > 2;
}

/* pixelmatch's antialiased(img, x1, y1, ...): img is one image, the siblings test looks at both */
static inline int antialiased(const uint8_t *img, const Images *im, int64_t x1, int64_t y1, int ri, int gi, int bi) {
    const int64_t w = im->width, h = im->height;
    const int64_t x0 = x1 > 0 ? x1 - 1 : 0, y0 = y1 > 0 ? y1 - 1 : 0;
    const int64_t x2 = x1 + 1 < w ? x1 + 1 : w - 1, y2 = y1 + 1 < h ? y1 + 1 : h - 1;
    const int64_t pos4 = (y1 * w + x1) * 4;
    const uint8_t *c = img + pos4;
    if (x1 > 0 && y1 > 0 && x1 < w - 1 && y1 < h - 1) {
        if (flat_around((const uint32_t *)c, w)) return 0;
        if (opaque_block(c, w)) return antialiased_opaque(img, im, x1, y1, ri, gi, bi);
    }
    int zeroes = (x1 == x0 || x1 == x2 || y1 == y0 || y1 == y2) ? 1 : 0;
    double min = 0, max = 0;
    int64_t min_x = 0, min_y = 0, max_x = 0, max_y = 0;
    for (int64_t x = x0; x <= x2; x++) {  /* x outer, y inner: ties go to the first met, as there */
        for (int64_t y = y0; y <= y2; y++) {
            if (x == x1 && y == y1) continue;
            const double delta = brightness_delta(c, img + (y * w + x) * 4, pos4, ri, gi, bi, im->checkerboard);
            if (delta == 0) {
                if (++zeroes > 2) return 0;
            } else if (delta < min) {
                min = delta; min_x = x; min_y = y;
            } else if (delta > max) {
                max = delta; max_x = x; max_y = y;
            }
        }
    }
    if (min == 0 || max == 0) return 0;
    return (many_siblings(im->a32, min_x, min_y, w, h) && many_siblings(im->b32, min_x, min_y, w, h)) ||
           (many_siblings(im->a32, max_x, max_y, w, h) && many_siblings(im->b32, max_x, max_y, w, h));
}

/* The first index in [i, end) where the two images differ, or end. */
static inline int64_t next_change(const uint32_t *a32, const uint32_t *b32, int64_t i, int64_t end) {
#ifdef __SSE2__
    while (i + 8 <= end) {
        const __m128i e0 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(a32 + i)),
                                           _mm_loadu_si128((const __m128i *)(b32 + i)));
        const __m128i e1 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(a32 + i + 4)),
                                           _mm_loadu_si128((const __m128i *)(b32 + i + 4)));
        if (_mm_movemask_epi8(_mm_and_si128(e0, e1)) != 0xFFFF) break;
        i += 8;
    }
#endif
    while (i < end && a32[i] == b32[i]) i++;
    return i;
}

/* Opaque pixels whose channels all differ by at most `margin` are surely within the
 * threshold (the caller derives the margin from it): no floating point for them. */
static inline int within_margin(const uint8_t *p, const uint8_t *q, int margin) {
    if ((p[3] & q[3]) != 255) return 0;
    const int d0 = p[0] - q[0], d1 = p[1] - q[1], d2 = p[2] - q[2];
    return d0 <= margin && d0 >= -margin && d1 <= margin && d1 >= -margin && d2 <= margin && d2 >= -margin;
}

static inline void judge(const Images *im, int64_t row0, int64_t row1, double max_delta, int margin,
                         int ri, int gi, int bi,
                         int include_aa, const uint8_t *mask, int64_t *diff_idx, int64_t *aa_idx, int64_t *counts) {
    const int64_t w = im->width;
    int64_t n_diff = 0, n_aa = 0, changed = 0;
    const int64_t end = row1 * w;
    for (int64_t i = next_change(im->a32, im->b32, row0 * w, end); i < end;
         i = next_change(im->a32, im->b32, i + 1, end)) {
        changed++;
        const int64_t pos = i * 4;
        if (within_margin(im->a + pos, im->b + pos, margin)) continue;
        if (!(color_delta(im->a + pos, im->b + pos, pos, ri, gi, bi, im->checkerboard) > max_delta)) continue;
        if (mask && mask[i]) continue;
        const int64_t y = i / w, x = i - y * w;
        if (!include_aa && (antialiased(im->a, im, x, y, ri, gi, bi) || antialiased(im->b, im, x, y, ri, gi, bi))) {
            aa_idx[n_aa++] = i;
        } else {
            diff_idx[n_diff++] = i;
        }
    }
    counts[0] = n_diff;
    counts[1] = n_aa;
    counts[2] = changed;
}

int patrol_kernel_version(void) { return 5; }

int patrol_diff(const uint8_t *a, const uint8_t *b, int64_t width, int64_t height, int64_t row0, int64_t row1,
                double max_delta, int margin, int bgr, int checkerboard, int include_aa, const uint8_t *mask,
                int64_t *diff_idx, int64_t *aa_idx, int64_t *counts) {
    if (width <= 0 || height <= 0 || row0 < 0 || row1 > height || row0 > row1) return -1;
    const Images im = {a, b, (const uint32_t *)a, (const uint32_t *)b, width, height, checkerboard};
    /* two specialisations, so the channel offsets are constants in the hot loop */
    if (bgr)
        judge(&im, row0, row1, max_delta, margin, 2, 1, 0, include_aa, mask, diff_idx, aa_idx, counts);
    else
        judge(&im, row0, row1, max_delta, margin, 0, 1, 2, include_aa, mask, diff_idx, aa_idx, counts);
    return 0;
}

/* Clusters of counted pixels: two pixels join when their Chebyshev distance is at most
 * k = gap + 1 (what dilating by a k x k square and labelling 8-connected does).  Works on
 * runs: within a row, pixels at most k apart form one run; a run joins the runs of the k
 * rows above whose span meets its span widened by k (exact: the gaps inside a run are
 * shorter than that widening).  idx: n sorted flat indices.  out: 5 int64 per cluster
 * (min x, min y, max x, max y, pixels) in the order of their first pixel; returns the
 * number of clusters, or -1 when out of memory. */
typedef struct { int64_t x0, x1, y, pixels, parent; } Run;

static int64_t root(Run *r, int64_t i) {
    while (r[i].parent != i) {
        r[i].parent = r[r[i].parent].parent;  /* path halving */
        i = r[i].parent;
    }
    return i;
}

static void join(Run *r, int64_t i, int64_t j) {
    i = root(r, i);
    j = root(r, j);
    if (i < j) r[j].parent = i; else if (j < i) r[i].parent = j;  /* the earlier run is the root */
}

static int64_t make_runs(const int64_t *idx, int64_t n, int64_t width, int64_t k, Run *runs) {
    int64_t m = 0;
    for (int64_t t = 0; t < n; t++) {
        const int64_t y = idx[t] / width, x = idx[t] % width;
        if (m && runs[m - 1].y == y && x - runs[m - 1].x1 <= k) {
            runs[m - 1].x1 = x;
            runs[m - 1].pixels++;
        } else {
            runs[m] = (Run){x, x, y, 1, m};
            m++;
        }
    }
    return m;
}

int64_t patrol_clusters(const int64_t *idx, int64_t n, int64_t width, int64_t gap, int64_t *out) {
    if (n <= 0) return 0;
    const int64_t k = gap + 1;
    Run *runs = malloc((size_t)n * sizeof(Run));
    if (!runs) return -1;
    const int64_t m = make_runs(idx, n, width, k, runs);
    /* cur[d]..end[d]: the runs of row y - k + d not yet passed by the current row's runs */
    int64_t *cur = malloc((size_t)(2 * k) * sizeof(int64_t));
    if (!cur) { free(runs); return -1; }
    int64_t *end = cur + k;
    for (int64_t i = 0, lo = 0; i < m; i++) {
        const int64_t y = runs[i].y;
        if (i == 0 || runs[i - 1].y != y) {  /* a new row: find each row above within reach */
            while (runs[lo].y < y - k) lo++;
            for (int64_t d = 0, j = lo; d < k; d++) {
                cur[d] = j;
                while (j < i && runs[j].y == y - k + d) j++;
                end[d] = j;
            }
        }
        for (int64_t d = 0; d < k; d++) {  /* spans sorted by x in each row: cursors only move on */
            while (cur[d] < end[d] && runs[cur[d]].x1 < runs[i].x0 - k) cur[d]++;
            for (int64_t j = cur[d]; j < end[d] && runs[j].x0 <= runs[i].x1 + k; j++) join(runs, i, j);
        }
    }
    free(cur);
    int64_t c = 0;
    for (int64_t i = 0; i < m; i++) {  /* roots come first in run order: number them, then fold */
        const int64_t r = root(runs, i);
        int64_t *o;
        if (r == i) {
            o = out + 5 * c;
            o[0] = runs[i].x0; o[1] = runs[i].y; o[2] = runs[i].x1; o[3] = runs[i].y; o[4] = 0;
            runs[i].x0 = c++;  /* a root's x0 now holds its cluster number (its span is in out) */
        } else {
            o = out + 5 * runs[r].x0;
            if (runs[i].x0 < o[0]) o[0] = runs[i].x0;
            if (runs[i].x1 > o[2]) o[2] = runs[i].x1;
            o[3] = runs[i].y;
        }
        o[4] += runs[i].pixels;
    }
    free(runs);
    return c;
}
