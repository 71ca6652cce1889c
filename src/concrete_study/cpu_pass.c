/* The stacked MLP's forward and backward pass on the CPU, one call each (cpu_pass.py).
 *
 * The same float operations as the numpy pass, in the same order: every matrix product is the
 * OpenBLAS call numpy's matmul makes for it (same routine, arguments and library), and every
 * element-wise step is the same IEEE operation on the same operands. What goes is numpy's
 * per-call overhead: a deep net's layer made 8 numpy calls a step, each costing as much as its
 * arithmetic. Compiled without -ffast-math and without contraction into fused multiply-adds, so
 * any compiler on any x86-64 CPU gives the same bytes.
 *
 * Layer l: h_{l+1} = relu(h_l @ W_l + b_l), the last layer without relu. Each replica r's
 * arrays are at a fixed stride from replica 0's. Below the first layer there may be a periodic
 * embedding (embedding.py), computed here by the same operations as there.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float beta, float *c, int64_t ldc);
typedef void (*sgemv_fn)(int order, int trans, int64_t m, int64_t n, float alpha, const float *a,
                         int64_t lda, const float *x, int64_t incx, float beta, float *y,
                         int64_t incy);

enum { ROW_MAJOR = 101, COL_MAJOR = 102, NO_TRANS = 111, TRANS = 112 };

typedef struct {
    int64_t fan_in, fan_out;
    float *weight, *bias;           /* replica r at + r * fan_in * fan_out, + r * fan_out */
    float *weight_grad, *bias_grad; /* the same layout, in the gradient buffer */
    float *output;                  /* (R, rows, fan_out), contiguous */
    float *input_grad;              /* (R, rows, fan_in): the gradient of this layer's input */
} Layer;

typedef struct {
    sgemm_fn sgemm;
    sgemv_fn sgemv;
    int64_t replicas, rows, n_layers;
    Layer *layers;
    float *grad; /* the whole gradient buffer */
    int64_t grad_size;
} Net;

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

/* out (rows, n) + bias (n), then relu where asked (as numpy's maximum(v, 0): NaN stays NaN). */
static void add_bias(float *restrict out, const float *restrict bias, int64_t rows, int64_t n,
                     int relu)
{
    for (int64_t i = 0; i < rows; i++, out += n)
        for (int64_t j = 0; j < n; j++) {
            float v = out[j] + bias[j];
            out[j] = (relu && v < 0.0f) ? 0.0f : v;
        }
}

/* numpy's add.reduce of (rows, n) over the rows: the first row, then the others added in order. */
static void sum_rows(float *restrict sum, const float *restrict g, int64_t rows, int64_t n)
{
    for (int64_t j = 0; j < n; j++) sum[j] = g[j];
    for (int64_t i = 1; i < rows; i++)
        for (int64_t j = 0; j < n; j++) sum[j] += g[i * n + j];
}

/* numpy's multiply of (rows, 1) and (1, n): out[i, j] = g[i] * w[j]. */
static void outer(float *restrict out, const float *restrict g, const float *restrict w,
                  int64_t rows, int64_t n)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) out[i * n + j] = g[i] * w[j];
}

/* relu's gradient, as numpy's multiply of g and the mask h > 0 (1.0 or 0.0). */
static void relu_grad(float *restrict g, const float *restrict h, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        float mask = h[k] > 0.0f;
        g[k] = g[k] * mask;
    }
}

/* The input of layer l: the rows x for the first (replica r's at x + r * x_replica_stride, row i
 * at + i * x_row_stride), the layer below's output for the others. */
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

void cpu_forward(const Net *net, const float *x, int64_t x_replica_stride, int64_t x_row_stride)
{
    const int64_t R = net->replicas, B = net->rows, last = net->n_layers - 1;
    for (int64_t l = 0; l <= last; l++) {
        const Layer *L = &net->layers[l];
        const int64_t fi = L->fan_in, fo = L->fan_out;
        const Input in = layer_input(net, l, x, x_replica_stride, x_row_stride);
        const int64_t lda = in.row_stride;
        for (int64_t r = 0; r < R; r++) {
            const float *h = in.rows + r * in.replica_stride, *w = L->weight + r * fi * fo,
                        *b = L->bias + r * fo;
            float *out = L->output + r * B * fo;
            if (fo == 1) /* numpy's matmul of a matrix and a column: gemv */
                net->sgemv(COL_MAJOR, TRANS, fi, B, 1.0f, h, lda, w, 1, 0.0f, out, 1);
            else
                net->sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, B, fo, fi, 1.0f, h, lda, w, fo, 0.0f,
                           out, fo);
            add_bias(out, b, B, fo, l < last);
        }
    }
}

/* grad: the predictions' gradient (R, rows), contiguous. With `embedded`, the first layer's
 * input gradient is computed too (no relu below it: the embedding's backward takes it). */
void cpu_backward(const Net *net, const float *x, int64_t x_replica_stride, int64_t x_row_stride,
                  const float *grad, int embedded)
{
    const int64_t R = net->replicas, B = net->rows;
    const float *g_all = grad;
    for (int64_t l = net->n_layers - 1; l >= 0; l--) {
        const Layer *L = &net->layers[l];
        const int64_t fi = L->fan_in, fo = L->fan_out;
        const Input in = layer_input(net, l, x, x_replica_stride, x_row_stride);
        const int64_t lda = in.row_stride;
        for (int64_t r = 0; r < R; r++) {
            const float *h = in.rows + r * in.replica_stride, *g = g_all + r * B * fo,
                        *w = L->weight + r * fi * fo;
            float *wg = L->weight_grad + r * fi * fo, *bg = L->bias_grad + r * fo;
            /* the bias: numpy's add.reduce over the rows; over one column, a pairwise sum */
            if (fo == 1)
                bg[0] = pairwise_sum(g, B);
            else
                sum_rows(bg, g, B, fo);
            if (fo == 1)
                net->sgemv(ROW_MAJOR, TRANS, B, fi, 1.0f, h, lda, g, 1, 0.0f, wg, 1);
            else
                net->sgemm(ROW_MAJOR, TRANS, NO_TRANS, fi, fo, B, 1.0f, h, lda, g, fo, 0.0f, wg,
                           fo);
            if (l == 0 && !embedded) continue;
            float *gi = L->input_grad + r * B * fi;
            if (fo == 1)
                outer(gi, g, w, B, fi);
            else
                net->sgemm(ROW_MAJOR, NO_TRANS, TRANS, B, fi, fo, 1.0f, g, fo, w, fo, 0.0f, gi,
                           fi);
            if (l > 0) relu_grad(gi, h, B * fi);
        }
        g_all = L->input_grad;
    }
    /* Autograd added each gradient to a zeroed buffer: 0 + x makes -0 +0. */
    for (int64_t k = 0; k < net->grad_size; k++) net->grad[k] = net->grad[k] + 0.0f;
}

/* The periodic embedding (embedding.py): input i of replica r becomes
 * relu([cos(2π c x), sin(2π c x)] @ W + b), its k frequencies c, weight W (2k, d), bias b (d). */
typedef struct {
    int64_t inputs, k, d;
    float *frequency, *weight, *bias;                /* (R, inputs, k), (R, inputs, 2k, d), (R, inputs, d) */
    float *frequency_grad, *weight_grad, *bias_grad; /* the same layout, in the gradient buffer */
    float *periodic;   /* (R, inputs, 2k, rows): cos, then sin */
    float *output;     /* (R, rows, inputs * d): the first layer's input */
    float *z;          /* (rows, d): one input's product, before its bias and relu */
    float *g;          /* (rows, d): one input's output gradient, through its relu */
    float *g_periodic; /* (2k, rows) */
    float *g_t;        /* (rows) */
    float *column;     /* (rows): one input's values */
} Embedding;

/* numpy's rint (round half to even) where |t| < 2^23, by adding and taking away 1.5 x 2^23;
 * larger values, infinities and NaN are their own rint. */
static inline float round_even(float t)
{
    const float magic = 12582912.0f;
    float a = fabsf(t);
    float r = copysignf((a + magic) - magic, t);
    return a < 8388608.0f ? r : t;
}

/* embedding._poly: Horner's rule over the n coefficients c in f2, the first step c[n-1] * f2. */
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

/* embedding.cos_sin_2pi at t = c * x for each of n values x, by its operations: the angle reduced
 * to f in [-1/2, 1/2], sin and cos of πf by Horner's rule, then the double angle. */
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

/* x (R, rows, inputs) at the strides given, as in cpu_forward. */
void cpu_embed_forward(const Net *net, const Embedding *e, const float *x,
                       int64_t x_replica_stride, int64_t x_row_stride, const float *sin_c,
                       const float *cos_c)
{
    const int64_t R = net->replicas, B = net->rows, n = e->inputs, k = e->k, d = e->d;
    for (int64_t r = 0; r < R; r++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t ri = r * n + i;
            const float *c = e->frequency + ri * k, *w = e->weight + ri * 2 * k * d,
                        *b = e->bias + ri * d, *xr = x + r * x_replica_stride + i;
            float *p = e->periodic + ri * 2 * k * B;
            for (int64_t row = 0; row < B; row++) e->column[row] = xr[row * x_row_stride];
            for (int64_t j = 0; j < k; j++)
                cos_sin_2pi(c[j], e->column, B, sin_c, cos_c, p + j * B, p + (k + j) * B);
            net->sgemm(ROW_MAJOR, TRANS, NO_TRANS, B, d, 2 * k, 1.0f, p, B, w, d, 0.0f, e->z, d);
            float *out = e->output + r * B * n * d + i * d;
            for (int64_t row = 0; row < B; row++)
                for (int64_t j = 0; j < d; j++) {
                    float v = e->z[row * d + j] + b[j];
                    out[row * n * d + j] = v < 0.0f ? 0.0f : v;
                }
        }
}

/* grad: the gradient of the embedding's output (R, rows, inputs * d), contiguous. */
void cpu_embed_backward(const Net *net, const Embedding *e, const float *x,
                        int64_t x_replica_stride, int64_t x_row_stride, const float *grad)
{
    const int64_t R = net->replicas, B = net->rows, n = e->inputs, k = e->k, d = e->d;
    const float two_pi = 6.2831855f; /* float32(2π) */
    for (int64_t r = 0; r < R; r++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t ri = r * n + i;
            const float *w = e->weight + ri * 2 * k * d, *p = e->periodic + ri * 2 * k * B,
                        *xr = x + r * x_replica_stride + i;
            const float *gr = grad + r * B * n * d + i * d, *out = e->output + r * B * n * d + i * d;
            for (int64_t row = 0; row < B; row++)
                for (int64_t j = 0; j < d; j++) {
                    float mask = out[row * n * d + j] > 0.0f;
                    e->g[row * d + j] = gr[row * n * d + j] * mask;
                }
            float *bg = e->bias_grad + ri * d, *wg = e->weight_grad + ri * 2 * k * d,
                  *cg = e->frequency_grad + ri * k;
            sum_rows(bg, e->g, B, d);
            net->sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, 2 * k, d, B, 1.0f, p, B, e->g, d, 0.0f, wg, d);
            net->sgemm(ROW_MAJOR, NO_TRANS, TRANS, 2 * k, B, d, 1.0f, w, d, e->g, d, 0.0f,
                       e->g_periodic, B);
            /* d cos(2πt)/dt = -2π sin, d sin(2πt)/dt = 2π cos, and t = frequency * x */
            const float *gp = e->g_periodic;
            for (int64_t j = 0; j < k; j++) {
                for (int64_t row = 0; row < B; row++) {
                    float gt = gp[(k + j) * B + row] * p[j * B + row];
                    gt = gt - gp[j * B + row] * p[(k + j) * B + row];
                    e->g_t[row] = gt * xr[row * x_row_stride];
                }
                cg[j] = pairwise_sum(e->g_t, B) * two_pi + 0.0f;
            }
            for (int64_t j = 0; j < d; j++) bg[j] = bg[j] + 0.0f;
            for (int64_t j = 0; j < 2 * k * d; j++) wg[j] = wg[j] + 0.0f;
        }
}
