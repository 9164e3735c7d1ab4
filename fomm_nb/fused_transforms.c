/* Winograd's input and output transforms, each fused with the memory pass around it.
 *
 * fomm_nb/fused_transforms.py compiles this file with the machine's C compiler and calls it through ctypes; see its
 * docstring for the layouts. In PyTorch alone each transform is a GEMM with separate passes over memory around it
 * (padding and gathering the tiles before the input transform, scattering the tiles and adding the bias after the
 * output transform); here each tile is read where it lies and written where it goes, 16 channels at a time, its
 * intermediate sums kept in registers.
 *
 * The transforms are separable: B^T d B is B^T applied down the columns of d, then along its rows. The innermost
 * loops run over contiguous channels, which the compiler vectorizes.
 */
#include <stddef.h>
#include <stdint.h>

#define MAX_ALPHA 8  /* the largest input tile side: F(6x6, 3x3) */

/* LANES channels at a time, as one vector (the compiler splits it where the ISA's vectors are shorter); channels
 * past the last whole vector go one at a time. aligned(4): a vector may start at any float. */
#define LANES 16
typedef float lanes __attribute__((vector_size(LANES * sizeof(float)), aligned(4)));
typedef float one;

/* The bodies take the tile sides as arguments and are inlined into calls with constant sides (F(4x4, 3x3) and
 * F(6x6, 3x3)), where the compiler unrolls the sums over the matrices' entries and keeps the operands in
 * registers; any other side runs the same code with loops. Zero entries are multiplied like the others: with the
 * operands in registers that is cheaper than branching. TYPE is `lanes` or `one`. Every transform step is
 * dot_TYPE: row `row` of a row-major matrix with `size` columns times `size` vectors. */
#define TILE_BODIES(TYPE)                                                                                           \
    static inline __attribute__((always_inline)) TYPE dot_##TYPE(const float *matrix, int64_t row, int64_t size,    \
                                                                 const TYPE *x) {                                   \
        TYPE sum = matrix[row * size] * x[0];                                                                       \
        for (int64_t k = 1; k < size; k++) sum += matrix[row * size + k] * x[k];                                    \
        return sum;                                                                                                 \
    }                                                                                                               \
    static inline __attribute__((always_inline)) void input_##TYPE(                                                 \
        const float *const *pixels, int64_t alpha, const float *bt, float *out, int64_t plane, int64_t c) {          \
        TYPE down[MAX_ALPHA][MAX_ALPHA]; /* down[i][q] = sum_p bt[i][p] d[p][q] */                                   \
        for (int64_t q = 0; q < alpha; q++) {                                                                       \
            TYPE d[MAX_ALPHA];                                                                                      \
            for (int64_t p = 0; p < alpha; p++) { /* a pixel outside the image (NULL) is zeros */                   \
                const float *pixel = pixels[p * MAX_ALPHA + q];                                                     \
                d[p] = pixel ? *(const TYPE *)(pixel + c) : (TYPE){0};                                              \
            }                                                                                                       \
            for (int64_t i = 0; i < alpha; i++) down[i][q] = dot_##TYPE(bt, i, alpha, d);                          \
        }                                                                                                           \
        for (int64_t i = 0; i < alpha; i++)                                                                         \
            for (int64_t j = 0; j < alpha; j++)                                                                     \
                *(TYPE *)(out + (i * alpha + j) * plane + c) = dot_##TYPE(bt, j, alpha, down[i]);                   \
    }                                                                                                               \
    static inline __attribute__((always_inline)) void output_##TYPE(                                                \
        const float *products, int64_t plane, const float *at, const float *bias, float *corner,                    \
        int64_t row_stride, int64_t channels, int64_t tile, int64_t alpha, int64_t c) {                             \
        TYPE down[MAX_ALPHA][MAX_ALPHA]; /* down[u][j] = sum_i at[u][i] M[i][j] */                                  \
        for (int64_t j = 0; j < alpha; j++) {                                                                       \
            TYPE m[MAX_ALPHA];                                                                                      \
            for (int64_t i = 0; i < alpha; i++) m[i] = *(const TYPE *)(products + (i * alpha + j) * plane + c);      \
            for (int64_t u = 0; u < tile; u++) down[u][j] = dot_##TYPE(at, u, alpha, m);                           \
        }                                                                                                           \
        const TYPE offset = *(const TYPE *)(bias + c);                                                              \
        for (int64_t u = 0; u < tile; u++)                                                                          \
            for (int64_t v = 0; v < tile; v++)                                                                      \
                *(TYPE *)(corner + u * row_stride + v * channels + c) = offset + dot_##TYPE(at, v, alpha, down[u]); \
    }

TILE_BODIES(lanes)
TILE_BODIES(one)

#define INLINE static inline __attribute__((always_inline))

/* One tile's input transform for every channel: whole vectors, then the channels left one at a time. */
INLINE void input_tile(const float *image, int64_t height, int64_t width, int64_t channels, int64_t y0, int64_t x0,
                       int64_t alpha, const float *bt, float *out, int64_t plane) {
    const float *pixels[MAX_ALPHA * MAX_ALPHA];
    const int64_t whole = channels - channels % LANES;
    for (int64_t p = 0; p < alpha; p++)
        for (int64_t q = 0; q < alpha; q++) {
            const int64_t y = y0 + p, x = x0 + q;
            const int inside = y >= 0 && y < height && x >= 0 && x < width;
            pixels[p * MAX_ALPHA + q] = inside ? image + (y * width + x) * channels : NULL;
        }
    for (int64_t c = 0; c < whole; c += LANES) input_lanes(pixels, alpha, bt, out, plane, c);
    for (int64_t c = whole; c < channels; c++) input_one(pixels, alpha, bt, out, plane, c);
}

INLINE void output_tile(const float *products, int64_t plane, int64_t channels, const float *at, const float *bias,
                        float *corner, int64_t row_stride, int64_t tile, int64_t alpha) {
    const int64_t whole = channels - channels % LANES;
    for (int64_t c = 0; c < whole; c += LANES)
        output_lanes(products, plane, at, bias, corner, row_stride, channels, tile, alpha, c);
    for (int64_t c = whole; c < channels; c++)
        output_one(products, plane, at, bias, corner, row_stride, channels, tile, alpha, c);
}

/* The `count` tiles of a chunk, `columns` to a tile row: tile n's input is the alpha x alpha pixels of `image`
 * (height, width, channels; contiguous) from row top + (n / columns) * tile and column left + (n % columns) * tile,
 * zero outside the image. Writes out[(i alpha + j) count + n][c] = (B^T d B)[i][j] for every channel c; `bt` is
 * B^T, alpha x alpha, row-major. The tiles are shared among `threads` OpenMP threads: built with OpenMP, this
 * library uses the runtime torch loaded (the same libgomp), so its threads are torch's. */
void fomm_input_transform(const float *image, int64_t height, int64_t width, int64_t channels, int64_t top,
                          int64_t left, int64_t columns, int64_t tile, int64_t alpha, const float *bt, float *out,
                          int64_t count, int64_t threads) {
    const int64_t plane = count * channels;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < count; n++) {
        const int64_t y0 = top + (n / columns) * tile, x0 = left + (n % columns) * tile;
        float *tile_out = out + n * channels;
        if (alpha == 6 && tile == 4)
            input_tile(image, height, width, channels, y0, x0, 6, bt, tile_out, plane);
        else if (alpha == 8 && tile == 6)
            input_tile(image, height, width, channels, y0, x0, 8, bt, tile_out, plane);
        else
            input_tile(image, height, width, channels, y0, x0, alpha, bt, tile_out, plane);
    }
}

/* The `count` tiles of a chunk: products holds (alpha^2, count, channels), M = products[:, n]; writes the
 * tile x tile outputs (A^T M A)[u][v] + bias into out at row (n / columns) * tile + u, column (n % columns) * tile
 * + v; out's rows are `row_stride` floats apart, its pixels `channels` floats. `at` is A^T, tile x alpha,
 * row-major; `threads` as above. */
void fomm_output_transform(const float *products, int64_t count, int64_t channels, const float *at,
                           const float *bias, float *out, int64_t row_stride, int64_t columns, int64_t tile,
                           int64_t alpha, int64_t threads) {
    const int64_t plane = count * channels;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < count; n++) {
        float *corner = out + (n / columns) * tile * row_stride + (n % columns) * tile * channels;
        const float *tile_products = products + n * channels;
        if (alpha == 6 && tile == 4)
            output_tile(tile_products, plane, channels, at, bias, corner, row_stride, 4, 6);
        else if (alpha == 8 && tile == 6)
            output_tile(tile_products, plane, channels, at, bias, corner, row_stride, 6, 8);
        else
            output_tile(tile_products, plane, channels, at, bias, corner, row_stride, tile, alpha);
    }
}

/* 1 when built with OpenMP (the tiles are shared among threads), else 0. */
int fomm_threaded(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
