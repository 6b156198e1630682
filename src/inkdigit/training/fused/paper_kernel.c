/* One training step of the paper's CNN (nets/paper.py) on the CPU, fused: forward, cross-entropy,
 * backward and Adam in one call, on the torch tensors' own memory. OpenMP (where the compiler has it)
 * splits the batch's images, the dense layers' rows and Adam over the cores; every sum is taken in an order
 * that does not depend on the number of threads, so 1 or 8 threads give the same weights, bit for bit.
 *
 * Why this exists: at batch 32 eager PyTorch spends most of a step in dispatch and in kernels built for
 * large shapes, while the arithmetic is ~60 MFLOP. Written for these exact shapes (8 channels = one AVX
 * vector) the step is many times faster (docs/experiments.md). The maths is PyTorch's: tests/test_paper_kernel.py
 * checks losses, gradients and Adam updates against torch given the same dropout masks.
 *
 * Per image: x 28x28 -> conv1 8@5x5 -> relu -> pool 2 -> drop .25 -> conv2 16@3x3 -> relu -> pool 2
 * -> drop .25 -> flatten 400 (torch's order c,y,x) -> dense 256 -> relu -> drop .5 -> dense 10.
 * Parameters and Adam moments are torch's contiguous layouts: W1 [8][1][5][5], W2 [16][8][3][3],
 * W3 [256][400], W4 [10][256]. Activations here are channels-last ([y][x][c]) so that a channel vector is
 * a SIMD register. Backward through max-pool and dropout only visits positions that pass a gradient: each
 * pooled value keeps a "gate" byte, the argmax inside its 2x2 window (0..3) or BLOCKED (relu dead or
 * dropped); the dense layers' backward skips the zeros relu and dropout leave (~3/4 of them).
 *
 * Dropout masks come from a counter-based generator keyed by (seed, Adam step, image in batch), so a step
 * is the same whatever ran before it (a resumed run needs no generator state), and the keep
 * probabilities are exact (a random byte >= 64 keeps with p 0.75, a random bit with p 0.5).
 * build.py builds this with the system C compiler (GCC/Clang vector extensions, no intrinsics).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID omp_get_thread_num()
#else
#define THREAD_ID 0
#endif

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));
typedef uint32_t vu8 __attribute__((vector_size(32)));
static const vu8 BYTE_SHIFT = {0, 8, 16, 24, 0, 8, 16, 24};

#define BLOCKED 255
#define KEEP_25 (4.0f / 3.0f) /* 1 / (1 - 0.25): torch scales what dropout keeps */
#define KEEP_50 2.0f

static inline v8 ld(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v8 v) { memcpy(p, &v, sizeof v); }

/* Everything a step reads or writes; step.py (PaperStep) fills it once per run; build.py's Ctx mirrors it. */
typedef struct {
    const float *x;       /* all training images [N][28][28], in [0,1] */
    const int64_t *y;     /* their labels [N], 0..9 */
    int64_t n;            /* N */
    float *param[8];      /* W1 b1 W2 b2 W3 b3 W4 b4 */
    float *exp_avg[8];    /* Adam's first moments, same layouts */
    float *exp_avg_sq[8]; /* Adam's second moments */
    float *work;          /* paper_work_floats(batch) floats */
    uint8_t *masks;       /* NULL, or [batch][1152+400+256] keep flags in torch's NCHW order (for tests) */
    uint64_t seed;
    float lr, beta1, beta2, eps; /* the optimiser's group, set before every step (schedules change them) */
    float weight_decay;          /* Adam's L2 term added to the gradient, or AdamW's decoupled decay */
    int decoupled;               /* 1: AdamW */
    float label_smoothing;
    int threads;
    const float *batch_x;        /* NULL: image i is x[idx[i]]; else image i is batch_x[i] (augmented) */
} Ctx;

#define MAX_THREADS 8
#define CHUNK 8 /* images per partial sum of the conv gradients: fixed, so no result depends on the threads */

/* Work area, in floats. Shared: */
enum {
    W1T = 0,              /* [25][8]    conv1 weights, tap-major, for the forward pass */
    W2T = 200,            /* [9][8][16] conv2 weights for the forward pass */
    W2R = 1352,           /* [16][9][8] conv2 weights for conv2's input gradient */
    GRAD = 2504,          /* torch-layout gradients of the 8 parameters, back to back (106,602) */
    SCRATCH = 109112      /* then MAX_THREADS x: */
};
enum {                    /* one thread's scratch for one image at a time */
    S_IMG = 0,            /* [28][32]   the image, rows padded (vector loads may read 3 past a row) */
    S_C1 = 896,           /* [24][24][8] conv1 output */
    S_C2 = 5504,          /* [10][10][16] conv2 output */
    S_DD1 = 7104,         /* [12][12][8] gradient at conv2's input */
    S_LIST = 8256,        /* int32 [1152] positions with an open gate */
    SCRATCH_SIZE = 9408
};
enum { P_G1 = 0, P_GB1 = 320, P_G2 = 328, P_GB2 = 1480, PART_SIZE = 1496 }; /* per chunk: G1 [8][5][8] (rows
    of 5 padded to 8), b1 [8], G2 [16][9][8], b2 [16] */
enum {                    /* per image */
    D1 = 0,               /* [12][12][8] pool 1 after dropout: conv2's input */
    FL = 1152,            /* [400] pool 2 after dropout, flattened: dense 1's input */
    HD = 1552,            /* [256] dense 1 after relu and dropout */
    G3M = 1808,           /* [256] dense 1's dropout scale, 0 where relu is dead too */
    DZ = 2064,            /* [256] gradient at dense 1's output */
    DF = 2320,            /* [400] gradient at dense 1's input */
    LOGIT = 2720,         /* [10] logits, then their gradient; [10] loss, [11] 1 if right */
    GATE1 = 2736,         /* bytes [12][12][8] */
    GATE2 = 3024,         /* bytes [400] */
    NZ = 3124,            /* int32 [256] dense-1 outputs with a gradient */
    PER_IMAGE = 3380
};
static const long SIZES[8] = {200, 8, 1152, 16, 102400, 256, 2560, 10};

static long parts_at(void) { return SCRATCH + (long)MAX_THREADS * SCRATCH_SIZE; }
static long images_at(int batch) { return parts_at() + (long)((batch + CHUNK - 1) / CHUNK) * PART_SIZE; }

long paper_grad_offset(void) { return GRAD; }
long paper_work_floats(int batch) { return images_at(batch) + (long)batch * PER_IMAGE + 256L * batch + 64; }

static inline uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void prepare_weights(const Ctx *c, float *work) {
    const float *W1 = c->param[0], *W2 = c->param[2];
    for (int k = 0; k < 8; k++)
        for (int t = 0; t < 25; t++) work[W1T + t * 8 + k] = W1[k * 25 + t];
    for (int o = 0; o < 16; o++)
        for (int ch = 0; ch < 8; ch++)
            for (int t = 0; t < 9; t++) {
                float w = W2[(o * 8 + ch) * 9 + t];
                work[W2T + (t * 8 + ch) * 16 + o] = w;
                work[W2R + (o * 9 + t) * 8 + ch] = w;
            }
}

static void pad_image(float *img, const float *x) {
    for (int r = 0; r < 28; r++) {
        memcpy(img + r * 32, x + r * 28, 28 * sizeof(float));
        memset(img + r * 32 + 28, 0, 4 * sizeof(float));
    }
}

/* relu -> 2x2 max-pool -> dropout(.25) over a channels-last conv output [2H][2W][C].
 * Writes the kept values (scaled) and a gate per pooled value. `flat` selects the destination order:
 * channels-last [H][W][C] (pool 1), or torch's flatten order [C][H][W] (pool 2). */
static void pool_relu_drop(const float *conv, int H, int W, int C, int flat, float *out, uint8_t *gate,
                           uint64_t *rng, uint8_t *mask) {
    const int row = 2 * W * C;
    for (int py = 0; py < H; py++)
        for (int px = 0; px < W; px++)
            for (int cb = 0; cb < C; cb += 8) {
                const float *p = conv + (2 * py) * row + (2 * px) * C + cb;
                v8 a = ld(p), b = ld(p + C), c = ld(p + row), d = ld(p + row + C);
                vi8 idx = {0}, gt;
                v8 m = a; /* strict > keeps the first maximum, as torch does */
                gt = b > m; m = (v8)(((vi8)b & gt) | ((vi8)m & ~gt)); idx = (idx & ~gt) | (gt & 1);
                gt = c > m; m = (v8)(((vi8)c & gt) | ((vi8)m & ~gt)); idx = (idx & ~gt) | (gt & 2);
                gt = d > m; m = (v8)(((vi8)d & gt) | ((vi8)m & ~gt)); idx = (idx & ~gt) | (gt & 3);
                /* dropout: lane l keeps when byte l of a fresh 64-bit random is >= 64 (p = 0.75 exactly) */
                const uint64_t r = splitmix(rng);
                const vu8 src = {(uint32_t)r, (uint32_t)r, (uint32_t)r, (uint32_t)r, (uint32_t)(r >> 32),
                                 (uint32_t)(r >> 32), (uint32_t)(r >> 32), (uint32_t)(r >> 32)};
                const vi8 keep = (vi8)(((src >> BYTE_SHIFT) & 255) >= 64);
                const vi8 open = keep & (m > 0.0f); /* relu(max) == max(relu): no positive value = dead */
                const v8 val = (v8)((vi8)(m * KEEP_25) & open);
                const vi8 gv = (idx & open) | (~open & BLOCKED);
                if (flat) {
                    for (int l = 0; l < 8; l++) {
                        const int dst = ((cb + l) * H + py) * W + px;
                        out[dst] = val[l];
                        gate[dst] = (uint8_t)gv[l];
                    }
                } else {
                    const int dst = (py * W + px) * C + cb;
                    st(out + dst, val);
                    for (int l = 0; l < 8; l++) gate[dst + l] = (uint8_t)gv[l];
                }
                if (mask)
                    for (int l = 0; l < 8; l++) mask[((cb + l) * H + py) * W + px] = (uint8_t)(keep[l] & 1);
            }
}

static void conv1_forward(const float *work, float *scratch, const float *b1) {
    const float *img = scratch + S_IMG, *w1t = work + W1T;
    float *c1 = scratch + S_C1;
    const v8 bias = ld(b1);
    for (int yy = 0; yy < 24; yy++)
        for (int x0 = 0; x0 < 24; x0 += 8) {
            v8 acc[8];
            for (int k = 0; k < 8; k++) acc[k] = bias;
            for (int ky = 0; ky < 5; ky++)
                for (int kx = 0; kx < 5; kx++) {
                    const v8 w = ld(w1t + (ky * 5 + kx) * 8);
                    const float *in = img + (yy + ky) * 32 + x0 + kx;
                    for (int k = 0; k < 8; k++) acc[k] += w * in[k];
                }
            for (int k = 0; k < 8; k++) st(c1 + (yy * 24 + x0 + k) * 8, acc[k]);
        }
}

static void conv2_forward(const float *work, float *scratch, const float *b2, const float *d1) {
    const float *w2t = work + W2T;
    float *c2 = scratch + S_C2;
    const v8 blo = ld(b2), bhi = ld(b2 + 8);
    for (int yy = 0; yy < 10; yy++)
        for (int x0 = 0; x0 < 10; x0 += 5) {
            v8 lo[5], hi[5];
            for (int k = 0; k < 5; k++) { lo[k] = blo; hi[k] = bhi; }
            for (int t = 0; t < 9; t++) {
                const float *in = d1 + ((yy + t / 3) * 12 + x0 + t % 3) * 8;
                const float *w = w2t + t * 128;
                for (int ch = 0; ch < 8; ch++) {
                    const v8 wl = ld(w + ch * 16), wh = ld(w + ch * 16 + 8);
                    for (int k = 0; k < 5; k++) {
                        const float s = in[k * 8 + ch];
                        lo[k] += wl * s;
                        hi[k] += wh * s;
                    }
                }
            }
            for (int k = 0; k < 5; k++) {
                st(c2 + (yy * 10 + x0 + k) * 16, lo[k]);
                st(c2 + (yy * 10 + x0 + k) * 16 + 8, hi[k]);
            }
        }
}

static inline const float *pixels(const Ctx *c, const int64_t *idx, int i) {
    return c->batch_x ? c->batch_x + (long)i * 784 : c->x + idx[i] * 784;
}

/* Image i of the batch: the convolutions, pools and all three dropout masks. */
static void forward_convs(const Ctx *c, const float *work, float *scratch, float *im, const float *image, int i,
                          int64_t t) {
    uint8_t *mask = c->masks ? c->masks + (long)i * 1808 : NULL;
    uint64_t rng = c->seed;
    rng = splitmix(&rng) ^ (uint64_t)t;
    rng = splitmix(&rng) ^ (uint64_t)i;
    pad_image(scratch + S_IMG, image);
    conv1_forward(work, scratch, c->param[1]);
    pool_relu_drop(scratch + S_C1, 12, 12, 8, 0, im + D1, (uint8_t *)(im + GATE1), &rng, mask);
    conv2_forward(work, scratch, c->param[3], im + D1);
    pool_relu_drop(scratch + S_C2, 5, 5, 16, 1, im + FL, (uint8_t *)(im + GATE2), &rng, mask ? mask + 1152 : NULL);
    for (int w = 0; w < 4; w++) {
        const uint64_t bits = splitmix(&rng);
        for (int j = 0; j < 64; j++) {
            const int keep = (int)(bits >> j) & 1;
            im[G3M + 64 * w + j] = keep ? KEEP_50 : 0.0f;
            if (mask) mask[1552 + 64 * w + j] = (uint8_t)keep;
        }
    }
}

static inline float hsum(v8 a) {
    float s = 0.0f;
    for (int l = 0; l < 8; l++) s += a[l];
    return s;
}

/* out = bias + W . in for the n (<= 4) images from i0: W [n_out][len], len a multiple of 8. */
static void dense_rows(float *per, int i0, int n, int in_off, int out_off, const float *W, const float *bias,
                       int n_out, int len) {
    const float *in[4];
    for (int r = 0; r < 4; r++) in[r] = per + (long)(i0 + (r < n ? r : 0)) * PER_IMAGE + in_off;
    for (int j = 0; j < n_out; j += 2) {
        const int j1 = j + 1 < n_out ? j + 1 : j;
        const float *w0 = W + (long)j * len, *w1 = W + (long)j1 * len;
        v8 acc[4][2];
        for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = (v8){0};
        for (int k = 0; k < len; k += 8) {
            const v8 a = ld(w0 + k), b = ld(w1 + k);
            for (int r = 0; r < 4; r++) {
                const v8 f = ld(in[r] + k);
                acc[r][0] += f * a;
                acc[r][1] += f * b;
            }
        }
        for (int r = 0; r < n; r++) {
            float *o = per + (long)(i0 + r) * PER_IMAGE + out_off;
            o[j] = bias[j] + hsum(acc[r][0]);
            if (j1 != j) o[j1] = bias[j1] + hsum(acc[r][1]);
        }
    }
}

/* Images i0..i0+n-1: both dense layers, the loss, and the gradient back to dense 1's output (DZ). */
static void dense_block(const Ctx *c, float *per, int i0, int n, int batch, const int64_t *idx) {
    float *const *P = c->param;
    dense_rows(per, i0, n, FL, HD, P[4], P[5], 256, 400);
    for (int i = i0; i < i0 + n; i++) {
        float *im = per + (long)i * PER_IMAGE;
        for (int j = 0; j < 256; j++) {
            const float h = im[HD + j];
            if (!(h > 0.0f)) im[G3M + j] = 0.0f; /* relu's gradient, folded into the dropout scale */
            im[HD + j] = h * im[G3M + j];
        }
    }
    dense_rows(per, i0, n, HD, LOGIT, P[6], P[7], 10, 256);
    for (int i = i0; i < i0 + n; i++) {
        float *im = per + (long)i * PER_IMAGE, *z = im + LOGIT;
        const int y = (int)c->y[idx[i]];
        int best = 0;
        float mx = z[0], e[10], sum = 0.0f;
        for (int k = 1; k < 10; k++)
            if (z[k] > mx) { mx = z[k]; best = k; }
        for (int k = 0; k < 10; k++) { e[k] = expf(z[k] - mx); sum += e[k]; }
        /* cross-entropy against (1-ls) one-hot + ls/10, as torch's label_smoothing; log p_k = z_k - mx - log sum */
        const float ls = c->label_smoothing, lse = logf(sum) + mx;
        float sum_logp = 0.0f;
        for (int k = 0; k < 10; k++) sum_logp += z[k] - lse;
        z[10] = (1.0f - ls) * (lse - z[y]) - ls / 10.0f * sum_logp;
        z[11] = best == y;
        for (int k = 0; k < 10; k++) /* d mean loss / dz */
            z[k] = (e[k] / sum - ((1.0f - ls) * (k == y) + ls / 10.0f)) / (float)batch;
        for (int j = 0; j < 256; j += 8) {
            v8 acc = {0};
            for (int k = 0; k < 10; k++) acc += ld(P[6] + k * 256 + j) * z[k];
            st(im + DZ + j, acc * ld(im + G3M + j));
        }
    }
}

/* Image i's share of the conv gradients, added to its chunk's partial sums. */
static void backward_convs(const float *work, float *scratch, float *part, const float *im, const float *image) {
    const uint8_t *g1 = (const uint8_t *)(im + GATE1), *g2 = (const uint8_t *)(im + GATE2);
    float *dd1 = scratch + S_DD1, *img = scratch + S_IMG;
    int32_t *list = (int32_t *)(scratch + S_LIST);
    memset(dd1, 0, 1152 * sizeof(float));
    int n = 0;
    for (int f = 0; f < 400; f++) { list[n] = f; n += g2[f] != BLOCKED; } /* branch-free compaction */
    for (int r = 0; r < n; r++) {
        const int f = list[r], o = f / 25, py = f % 25 / 5, px = f % 5;
        const int yy = 2 * py + (g2[f] >> 1), xx = 2 * px + (g2[f] & 1);
        const float g = im[DF + f] * KEEP_25;
        part[P_GB2 + o] += g;
        for (int t9 = 0; t9 < 9; t9++) {
            const int at = ((yy + t9 / 3) * 12 + xx + t9 % 3) * 8;
            float *gw = part + P_G2 + (o * 9 + t9) * 8;
            st(gw, ld(gw) + ld(im + D1 + at) * g);
            st(dd1 + at, ld(dd1 + at) + ld(work + W2R + (o * 9 + t9) * 8) * g);
        }
    }
    pad_image(img, image);
    n = 0;
    for (int q = 0; q < 1152; q++) { list[n] = q; n += g1[q] != BLOCKED; }
    for (int r = 0; r < n; r++) {
        const int q = list[r], ch = q & 7, px = (q >> 3) % 12, py = (q >> 3) / 12;
        const int yy = 2 * py + (g1[q] >> 1), xx = 2 * px + (g1[q] & 1);
        const float g = dd1[q] * KEEP_25;
        part[P_GB1 + ch] += g;
        for (int ky = 0; ky < 5; ky++) {
            float *gw = part + P_G1 + (ch * 5 + ky) * 8;
            st(gw, ld(gw) + ld(img + (yy + ky) * 32 + xx) * g);
        }
    }
}

/* Adam on n elements, as torch's fused kernel: g += wd p (Adam) or p *= 1 - lr wd (AdamW);
 * m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
__attribute__((noinline)) static void adam(const Ctx *c, float *w, float *m, float *v, const float *g, long n, int64_t t) {
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    const float l2 = c->decoupled ? 0.0f : c->weight_decay, shrink = c->decoupled ? 1.0f - c->lr * c->weight_decay : 1.0f;
    const float step_size = (float)(c->lr / (1.0 - pow(b1, (double)t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(b2, (double)t));
    const long whole = n - n % 8;
    for (long e = 0; e < whole; e += 8) {
        const v8 ww = ld(w + e) * shrink, gg = ld(g + e) + ww * l2;
        const v8 mm = ld(m + e) + (gg - ld(m + e)) * (1.0f - b1);
        const v8 vv = ld(v + e) * b2 + gg * gg * (1.0f - b2);
        v8 root;
        for (int l = 0; l < 8; l++) root[l] = sqrtf(vv[l]);
        st(m + e, mm);
        st(v + e, vv);
        st(w + e, ww - step_size * mm / (root / bc2_sqrt + eps));
    }
    for (long e = whole; e < n; e++) {
        const float ww = w[e] * shrink, gg = g[e] + ww * l2;
        m[e] += (gg - m[e]) * (1.0f - b1);
        v[e] = v[e] * b2 + gg * gg * (1.0f - b2);
        w[e] = ww - step_size * m[e] / (sqrtf(v[e]) / bc2_sqrt + eps);
    }
}

#define W3_PIECES 16 /* Adam on W3 (96% of the parameters) in pieces the threads share */

/* One step on the images idx[0..batch-1]; t is the Adam step (1-based) and keys the dropout masks.
 * Adds the batch's summed loss and number right to out[0], out[1]. Returns 0, -1 for an empty batch, or -2
 * for an index outside 0..N-1 (nothing is changed then). */
int paper_step(const Ctx *c, const int64_t *idx, int batch, int64_t t, double *out) {
    if (batch < 1) return -1;
    for (int i = 0; i < batch; i++)
        if (idx[i] < 0 || idx[i] >= c->n) return -2;
    const int threads = c->threads < 1 ? 1 : c->threads > MAX_THREADS ? MAX_THREADS : c->threads;
    const int chunks = (batch + CHUNK - 1) / CHUNK, blocks = (batch + 3) / 4;
    float *work = c->work, *parts = work + parts_at(), *per = work + images_at(batch);
    int32_t *nz_rows = (int32_t *)(per + (long)batch * PER_IMAGE); /* [256][batch] */
    float *const *P = c->param;
    float *G = work + GRAD;
    float *gW1 = G, *gb1 = G + 200, *gW2 = G + 208, *gb2 = G + 1360, *gW3 = G + 1376, *gb3 = G + 103776,
          *gW4 = G + 104032, *gb4 = G + 106592;
    prepare_weights(c, work);

#pragma omp parallel num_threads(threads)
    {
        float *scratch = work + SCRATCH + (long)THREAD_ID * SCRATCH_SIZE;
#pragma omp for schedule(static)
        for (int i = 0; i < batch; i++)
            forward_convs(c, work, scratch, per + (long)i * PER_IMAGE, pixels(c, idx, i), i, t);
#pragma omp for schedule(static)
        for (int b = 0; b < blocks; b++) dense_block(c, per, 4 * b, batch - 4 * b < 4 ? batch - 4 * b : 4, batch, idx);

        /* dense 2's weight gradient; dense 1's row by row over the images whose DZ is nonzero (~1/4) */
#pragma omp for schedule(static) nowait
        for (int k = 0; k < 10; k++) {
            float s = 0.0f;
            for (int j = 0; j < 256; j += 8) st(gW4 + k * 256 + j, (v8){0});
            for (int i = 0; i < batch; i++) {
                const float *im = per + (long)i * PER_IMAGE, d = im[LOGIT + k];
                s += d;
                for (int j = 0; j < 256; j += 8) st(gW4 + k * 256 + j, ld(gW4 + k * 256 + j) + ld(im + HD + j) * d);
            }
            gb4[k] = s;
        }
#pragma omp for schedule(static)
        for (int j = 0; j < 256; j++) {
            int32_t *rows = nz_rows + (long)j * batch, n = 0;
            float s = 0.0f;
            for (int i = 0; i < batch; i++) {
                const float g = per[(long)i * PER_IMAGE + DZ + j];
                rows[n] = i;
                n += g != 0.0f;
                s += g;
            }
            gb3[j] = s;
            for (int k0 = 0; k0 < 400; k0 += 80) {
                v8 acc[10];
                for (int v = 0; v < 10; v++) acc[v] = (v8){0};
                for (int r = 0; r < n; r++) {
                    const float *im = per + (long)rows[r] * PER_IMAGE;
                    const float g = im[DZ + j];
                    for (int v = 0; v < 10; v++) acc[v] += ld(im + FL + k0 + 8 * v) * g;
                }
                for (int v = 0; v < 10; v++) st(gW3 + j * 400 + k0 + 8 * v, acc[v]);
            }
        }
        /* dense 1's input gradient, image by image over the nonzero DZ */
#pragma omp for schedule(static)
        for (int i = 0; i < batch; i++) {
            float *im = per + (long)i * PER_IMAGE;
            int32_t *cols = (int32_t *)(im + NZ), n = 0;
            for (int j = 0; j < 256; j++) {
                cols[n] = j;
                n += im[DZ + j] != 0.0f;
            }
            for (int k0 = 0; k0 < 400; k0 += 80) {
                v8 acc[10];
                for (int v = 0; v < 10; v++) acc[v] = (v8){0};
                for (int r = 0; r < n; r++) {
                    const float g = im[DZ + cols[r]];
                    const float *w = P[4] + (long)cols[r] * 400 + k0;
                    for (int v = 0; v < 10; v++) acc[v] += ld(w + 8 * v) * g;
                }
                for (int v = 0; v < 10; v++) st(im + DF + k0 + 8 * v, acc[v]);
            }
        }
#pragma omp for schedule(static)
        for (int k = 0; k < chunks; k++) {
            float *part = parts + (long)k * PART_SIZE;
            memset(part, 0, PART_SIZE * sizeof(float));
            for (int i = k * CHUNK; i < batch && i < (k + 1) * CHUNK; i++)
                backward_convs(work, scratch, part, per + (long)i * PER_IMAGE, pixels(c, idx, i));
        }
#pragma omp single
        {
            double loss = 0.0;
            int right = 0;
            for (int i = 0; i < batch; i++) {
                loss += per[(long)i * PER_IMAGE + LOGIT + 10];
                right += per[(long)i * PER_IMAGE + LOGIT + 11] != 0.0f;
            }
            out[0] += loss;
            out[1] += right;
            memset(G, 0, 1376 * sizeof(float)); /* gW1 gb1 gW2 gb2 */
            for (int k = 0; k < chunks; k++) { /* in chunk order: the sums do not depend on the threads */
                const float *part = parts + (long)k * PART_SIZE;
                for (int ch = 0; ch < 8; ch++) {
                    gb1[ch] += part[P_GB1 + ch];
                    for (int tp = 0; tp < 25; tp++) gW1[ch * 25 + tp] += part[P_G1 + (ch * 5 + tp / 5) * 8 + tp % 5];
                }
                for (int o = 0; o < 16; o++) {
                    gb2[o] += part[P_GB2 + o];
                    for (int ch = 0; ch < 8; ch++)
                        for (int tp = 0; tp < 9; tp++) gW2[(o * 8 + ch) * 9 + tp] += part[P_G2 + (o * 9 + tp) * 8 + ch];
                }
            }
        }
#pragma omp for schedule(static)
        for (int piece = 0; piece <= W3_PIECES; piece++) {
            if (piece < W3_PIECES) {
                const long n = 102400 / W3_PIECES, at = piece * n;
                adam(c, P[4] + at, c->exp_avg[4] + at, c->exp_avg_sq[4] + at, gW3 + at, n, t);
            } else {
                long off = 0;
                for (int p = 0; p < 8; p++) {
                    if (p != 4) adam(c, P[p], c->exp_avg[p], c->exp_avg_sq[p], G + off, SIZES[p], t);
                    off += SIZES[p];
                }
            }
        }
    }
    return 0;
}
