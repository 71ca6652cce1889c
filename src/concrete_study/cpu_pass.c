/* The exact CPU pass: forward and backward through any sequence of the layers of layers.py, all
 * replicas of a stack, one call each (cpu_pass.py). Each layer type's kernel here computes what
 * its definition in layers.py does, by float operations that give the same bytes on every x86-64
 * CPU: matrix products are the OpenBLAS calls numpy's matmul makes (pinned to its AVX2 kernels,
 * numerics.py), every element-wise step one IEEE operation. Compiled without -ffast-math and
 * without contraction into fused multiply-adds.
 *
 * Replica r's parameters lie at a fixed stride from replica 0's; each layer's output is
 * (R, rows, fan_out), contiguous; the first layer reads the rows x at the strides given.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float beta, float *c, int64_t ldc);
typedef void (*sgemv_fn)(int order, int trans, int64_t m, int64_t n, float alpha, const float *a,
                         int64_t lda, const float *x, int64_t incx, float beta, float *y,
                         int64_t incy);

enum { ROW_MAJOR = 101, COL_MAJOR = 102, NO_TRANS = 111, TRANS = 112 };
enum { LINEAR = 0, RELU = 1, DROPOUT = 2, PERIODIC = 3 }; /* layers.py: KERNELS */

typedef struct {
    int64_t kind, fan_in, fan_out;
    int64_t relu; /* a linear layer followed by a relu: the relu computed in its bias's loop */
    float *params[3]; /* replica r's at + r * its size */
    float *grads[3];  /* the same layout, in the gradient buffer */
    float *output;    /* (R, rows, fan_out); a relu's and a dropout's may be their input's */
    float *input_grad; /* (R, rows, fan_in), the gradient of the input; NULL: not needed */
    /* dropout: this step's keys, one per replica; each unit's hashed index (rows, fan_out),
     * mix32(k), the same every step; the 24-bit threshold below which a unit is dropped; the
     * kept units' factor; the masks (R, rows, fan_out) the backward pass reads */
    const uint32_t *keys;
    const uint32_t *unit_hashes;
    int64_t threshold;
    float scale;
    float *mask;
    /* periodic: k frequencies and d values per input; the Taylor coefficients of sin(πf)/f (6)
     * and cos(πf) (7) in f²; work arrays: periodic (R, inputs, 2k, rows), z (rows, d), g (rows,
     * d), g_periodic (2k, rows), g_t (rows), column (rows) */
    int64_t k, d;
    const float *coefficients[2];
    float *work[6];
} Layer;

typedef struct {
    sgemm_fn sgemm;
    sgemv_fn sgemv;
    int64_t replicas, rows, n_layers;
    Layer *layers;
    float *grad; /* the whole gradient buffer */
    int64_t grad_size;
} Net;

/* A layer's input: the rows x for the first (replica r's at + r * replica_stride, row i at
 * + i * row_stride), the layer below's output for the others. */
typedef struct {
    const float *rows;
    int64_t replica_stride, row_stride;
} Input;

static Input layer_input(const Net *net, int64_t l, const float *x, int64_t x_replica_stride,
                         int64_t x_row_stride)
{
    if (l == 0) return (Input){x, x_replica_stride, x_row_stride};
    const int64_t fi = net->layers[l].fan_in;
    return (Input){net->layers[l - 1].output, net->rows * fi, fi};
}

/* numpy's pairwise sum of n contiguous floats (its add.reduce along a contiguous axis). */
static float pairwise_sum(const float *a, int64_t n)
{
    if (n < 8) {
        float res = -0.0f;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        float r[8];
        int64_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* numpy's add.reduce of (rows, n) over the rows: the first row, then the others added in order. */
static void sum_rows(float *restrict sum, const float *restrict g, int64_t rows, int64_t n)
{
    for (int64_t j = 0; j < n; j++) sum[j] = g[j];
    for (int64_t i = 1; i < rows; i++)
        for (int64_t j = 0; j < n; j++) sum[j] += g[i * n + j];
}

/* ---- linear: h @ W + b, W (fan_in, fan_out), b (1, fan_out) ---- */

/* out (rows, n) + bias (n), then relu where asked (as numpy's maximum(v, 0): NaN stays NaN).
 * Out of line, and with the relu's test at run time: so compiled, the sum of a NaN and a NaN
 * keeps out's, as numpy's add does; inlined, the compiler swapped the operands (+ commutes but
 * for a NaN's sign), and the reference's bytes were lost. */
static __attribute__((noinline)) void add_bias(float *restrict out, const float *restrict bias,
                                               int64_t rows, int64_t n, int relu)
{
    for (int64_t i = 0; i < rows; i++, out += n)
        for (int64_t j = 0; j < n; j++) {
            float v = out[j] + bias[j];
            out[j] = (relu && v < 0.0f) ? 0.0f : v;
        }
}

static void linear_forward(const Net *net, const Layer *L, Input in)
{
    const int64_t B = net->rows, fi = L->fan_in, fo = L->fan_out;
    for (int64_t r = 0; r < net->replicas; r++) {
        const float *h = in.rows + r * in.replica_stride, *w = L->params[0] + r * fi * fo,
                    *b = L->params[1] + r * fo;
        float *out = L->output + r * B * fo;
        if (fo == 1) /* numpy's matmul of a matrix and a column: gemv */
            net->sgemv(COL_MAJOR, TRANS, fi, B, 1.0f, h, in.row_stride, w, 1, 0.0f, out, 1);
        else
            net->sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, B, fo, fi, 1.0f, h, in.row_stride, w, fo,
                       0.0f, out, fo);
        add_bias(out, b, B, fo, (int)L->relu);
    }
}

static void linear_backward(const Net *net, const Layer *L, Input in, const float *g_all)
{
    const int64_t B = net->rows, fi = L->fan_in, fo = L->fan_out;
    for (int64_t r = 0; r < net->replicas; r++) {
        const float *h = in.rows + r * in.replica_stride, *g = g_all + r * B * fo,
                    *w = L->params[0] + r * fi * fo;
        float *wg = L->grads[0] + r * fi * fo, *bg = L->grads[1] + r * fo;
        /* the bias: numpy's add.reduce over the rows; over one column, a pairwise sum */
        if (fo == 1)
            bg[0] = pairwise_sum(g, B);
        else
            sum_rows(bg, g, B, fo);
        if (fo == 1)
            net->sgemv(ROW_MAJOR, TRANS, B, fi, 1.0f, h, in.row_stride, g, 1, 0.0f, wg, 1);
        else
            net->sgemm(ROW_MAJOR, TRANS, NO_TRANS, fi, fo, B, 1.0f, h, in.row_stride, g, fo, 0.0f,
                       wg, fo);
        if (L->input_grad == NULL) continue;
        float *gi = L->input_grad + r * B * fi;
        if (fo == 1) /* numpy's multiply of (rows, 1) and (1, fan_in): an outer product */
            for (int64_t i = 0; i < B; i++)
                for (int64_t j = 0; j < fi; j++) gi[i * fi + j] = g[i] * w[j];
        else
            net->sgemm(ROW_MAJOR, NO_TRANS, TRANS, B, fi, fo, 1.0f, g, fo, w, fo, 0.0f, gi, fi);
    }
}

/* ---- relu: max(h, 0), NaN stays NaN; its gradient g * (out > 0) ---- */

static void relu_forward(const Net *net, const Layer *L, Input in)
{
    const int64_t n = net->replicas * net->rows * L->fan_out;
    for (int64_t k = 0; k < n; k++) {
        float v = in.rows[k];
        L->output[k] = v < 0.0f ? 0.0f : v;
    }
}

static void relu_backward(const Net *net, const Layer *L, const float *g)
{
    const int64_t n = net->replicas * net->rows * L->fan_out;
    for (int64_t k = 0; k < n; k++) {
        float mask = L->output[k] > 0.0f;
        L->input_grad[k] = g[k] * mask;
    }
}

/* ---- dropout: each unit kept with probability 1 - rate and scaled by 1 / (1 - rate), by a mask
 * of the replica's own (layers.dropout_mask); at evaluation the identity ---- */

static inline uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static void dropout_forward(const Net *net, const Layer *L, Input in, int training)
{
    const int64_t per_replica = net->rows * L->fan_out;
    if (!training) {
        if (L->output != in.rows)
            memcpy(L->output, in.rows, sizeof(float) * net->replicas * per_replica);
        return;
    }
    for (int64_t r = 0; r < net->replicas; r++) {
        const uint32_t key = L->keys[r];
        const float *h = in.rows + r * per_replica;
        float *m = L->mask + r * per_replica, *out = L->output + r * per_replica;
        for (int64_t k = 0; k < per_replica; k++) {
            uint32_t u = mix32(key ^ L->unit_hashes[k]) >> 8;
            m[k] = (int64_t)u < L->threshold ? 0.0f : L->scale;
            out[k] = h[k] * m[k];
        }
    }
}

static void dropout_backward(const Net *net, const Layer *L, const float *g)
{
    const int64_t n = net->replicas * net->rows * L->fan_out;
    for (int64_t k = 0; k < n; k++) L->input_grad[k] = g[k] * L->mask[k];
}

/* ---- periodic embedding (layers.PeriodicEmbedding): input i of replica r becomes
 * relu([cos(2π c x), sin(2π c x)] @ W + b), its k frequencies c, weight W (2k, d), bias b (d) ---- */

/* numpy's rint (round half to even) where |t| < 2^23, by adding and taking away 1.5 x 2^23;
 * larger values, infinities and NaN are their own rint. */
static inline float round_even(float t)
{
    const float magic = 12582912.0f;
    float a = fabsf(t);
    float r = copysignf((a + magic) - magic, t);
    return a < 8388608.0f ? r : t;
}

/* Horner's rule over the n coefficients c in f2, the first step c[n-1] * f2. */
static inline float horner(const float *c, int n, float f2)
{
    float out = f2 * c[n - 1];
    out = out + c[n - 2];
    for (int j = n - 3; j >= 0; j--) {
        out = out * f2;
        out = out + c[j];
    }
    return out;
}

/* cos(2πt) and sin(2πt) at t = c * x for each of n values x: the angle reduced to f in
 * [-1/2, 1/2], sin and cos of πf by Horner's rule, then the double angle. */
static void cos_sin_2pi(float c, const float *restrict x, int64_t n, const float *restrict sin_c,
                        const float *restrict cos_c, float *restrict cos_out,
                        float *restrict sin_out)
{
    float sc[6], cc[7]; /* local copies: the loop below is then vectorised */
    for (int j = 0; j < 6; j++) sc[j] = sin_c[j];
    for (int j = 0; j < 7; j++) cc[j] = cos_c[j];
    for (int64_t i = 0; i < n; i++) {
        float t = c * x[i];
        float f = t - round_even(t);
        float f2 = f * f;
        float s = horner(sc, 6, f2) * f;
        float co = horner(cc, 7, f2);
        float ss = s * s;
        ss = ss * -2.0f;
        cos_out[i] = ss + 1.0f;
        s = s * co;
        sin_out[i] = s * 2.0f;
    }
}

static void periodic_forward(const Net *net, const Layer *L, Input in)
{
    const int64_t B = net->rows, n = L->fan_in, k = L->k, d = L->d;
    float *periodic = L->work[0], *z = L->work[1], *column = L->work[5];
    for (int64_t r = 0; r < net->replicas; r++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t ri = r * n + i;
            const float *c = L->params[0] + ri * k, *w = L->params[1] + ri * 2 * k * d,
                        *b = L->params[2] + ri * d, *xr = in.rows + r * in.replica_stride + i;
            float *p = periodic + ri * 2 * k * B;
            for (int64_t row = 0; row < B; row++) column[row] = xr[row * in.row_stride];
            for (int64_t j = 0; j < k; j++) cos_sin_2pi(c[j], column, B, L->coefficients[0], L->coefficients[1], p + j * B,
                            p + (k + j) * B);
            net->sgemm(ROW_MAJOR, TRANS, NO_TRANS, B, d, 2 * k, 1.0f, p, B, w, d, 0.0f, z, d);
            float *out = L->output + r * B * n * d + i * d;
            for (int64_t row = 0; row < B; row++)
                for (int64_t j = 0; j < d; j++) {
                    float v = z[row * d + j] + b[j];
                    out[row * n * d + j] = v < 0.0f ? 0.0f : v;
                }
        }
}

static void periodic_backward(const Net *net, const Layer *L, Input in, const float *grad)
{
    const int64_t B = net->rows, n = L->fan_in, k = L->k, d = L->d;
    const float two_pi = 6.2831855f; /* float32(2π) */
    float *g = L->work[2], *gp = L->work[3], *g_t = L->work[4];
    for (int64_t r = 0; r < net->replicas; r++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t ri = r * n + i;
            const float *w = L->params[1] + ri * 2 * k * d, *p = L->work[0] + ri * 2 * k * B,
                        *xr = in.rows + r * in.replica_stride + i;
            const float *gr = grad + r * B * n * d + i * d, *out = L->output + r * B * n * d + i * d;
            for (int64_t row = 0; row < B; row++)
                for (int64_t j = 0; j < d; j++) {
                    float mask = out[row * n * d + j] > 0.0f;
                    g[row * d + j] = gr[row * n * d + j] * mask;
                }
            float *cg = L->grads[0] + ri * k, *wg = L->grads[1] + ri * 2 * k * d,
                  *bg = L->grads[2] + ri * d;
            sum_rows(bg, g, B, d);
            net->sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, 2 * k, d, B, 1.0f, p, B, g, d, 0.0f, wg, d);
            net->sgemm(ROW_MAJOR, NO_TRANS, TRANS, 2 * k, B, d, 1.0f, w, d, g, d, 0.0f, gp, B);
            /* d cos(2πt)/dt = -2π sin, d sin(2πt)/dt = 2π cos, and t = frequency * x */
            for (int64_t j = 0; j < k; j++) {
                for (int64_t row = 0; row < B; row++) {
                    float gt = gp[(k + j) * B + row] * p[j * B + row];
                    gt = gt - gp[j * B + row] * p[(k + j) * B + row];
                    g_t[row] = gt * xr[row * in.row_stride];
                }
                cg[j] = pairwise_sum(g_t, B) * two_pi;
            }
        }
}

/* ---- the pass ---- */

void cpu_forward(const Net *net, const float *x, int64_t x_replica_stride, int64_t x_row_stride,
                 int training)
{
    for (int64_t l = 0; l < net->n_layers; l++) {
        const Layer *L = &net->layers[l];
        const Input in = layer_input(net, l, x, x_replica_stride, x_row_stride);
        switch (L->kind) {
        case LINEAR: linear_forward(net, L, in); break;
        case RELU: /* in place, and computed already where a linear layer's loop fused it */
            if (!(l > 0 && net->layers[l - 1].kind == LINEAR && net->layers[l - 1].relu))
                relu_forward(net, L, in);
            break;
        case DROPOUT: dropout_forward(net, L, in, training); break;
        case PERIODIC: periodic_forward(net, L, in); break;
        }
    }
}

/* grad: the gradient of the last layer's output (R, rows, 1), contiguous. */
void cpu_backward(const Net *net, const float *x, int64_t x_replica_stride, int64_t x_row_stride,
                  const float *grad)
{
    const float *g = grad;
    for (int64_t l = net->n_layers - 1; l >= 0; l--) {
        const Layer *L = &net->layers[l];
        const Input in = layer_input(net, l, x, x_replica_stride, x_row_stride);
        switch (L->kind) {
        case LINEAR: linear_backward(net, L, in, g); break;
        case RELU: relu_backward(net, L, g); break;
        case DROPOUT: dropout_backward(net, L, g); break;
        case PERIODIC: periodic_backward(net, L, in, g); break;
        }
        if (L->input_grad == NULL) break; /* no layer below has parameters */
        g = L->input_grad;
    }
    /* Autograd added each gradient to a zeroed buffer: 0 + x makes -0 +0. */
    for (int64_t k = 0; k < net->grad_size; k++) net->grad[k] = net->grad[k] + 0.0f;
}
