/* The batch kernels of indicators/kernels.py, compiled: the loops numba compiles there
 * (``_rolling_sum``, ``_average_tail``, ``_ha_open``), transcribed operation for operation in the
 * same order on IEEE doubles, so the same bits (built with -ffp-contract=off, never -ffast-math:
 * see indicators/_frame.c). The default install runs these where it would otherwise run the
 * list loops; tests/indicators/test_batch_kernels.py holds them to the Python loops bit for bit.
 *
 * Arguments are contiguous float64 buffers (numpy arrays); ``out`` is written in place. The
 * rolling sum is the streaming machine itself (_rolling_sum.h, shared with _frame.c).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "_rolling_sum.h"

static void release(int count, Py_buffer *views) {
    for (int i = 0; i < count; i++)
        PyBuffer_Release(&views[i]);
}

/* ``count`` contiguous float64 buffers, the last one written: its length (that of the first), or
 * -1 with an exception and nothing held. Every other buffer must be at least as long as the first. */
static Py_ssize_t acquire(int count, PyObject *const *objs, const char *const *names, Py_buffer *views) {
    for (int i = 0; i < count; i++) {
        int writable = i == count - 1;
        if (PyObject_GetBuffer(objs[i], &views[i], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0) {
            release(i, views);
            return -1;
        }
        if (views[i].itemsize != sizeof(double) || views[i].format == NULL || strcmp(views[i].format, "d") != 0) {
            PyErr_Format(PyExc_TypeError, "%s must be contiguous float64", names[i]);
            release(i + 1, views);
            return -1;
        }
        if (views[i].len < views[0].len) {
            PyErr_Format(PyExc_ValueError, "%s is shorter than %s", names[i], names[0]);
            release(i + 1, views);
            return -1;
        }
    }
    return views[0].len / (Py_ssize_t)sizeof(double);
}

/* kernels._rolling_sum: math.sum (scale 1) or ta.sma (scale n) for n >= 2, the streaming
 * machine (_rolling_sum.h) run over the column. */
static PyObject *rolling_sum(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *objs[2];
    Py_ssize_t n;
    double scale;
    if (!PyArg_ParseTuple(args, "OndO:rolling_sum", &objs[0], &n, &scale, &objs[1]))
        return NULL;
    if (n < 2 || n > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "rolling_sum: n must be >= 2, got %zd", n);
        return NULL;
    }
    Py_buffer views[2];
    Py_ssize_t len = acquire(2, objs, (const char *const[]){"x", "out"}, views);
    if (len < 0)
        return NULL;
    RollingSum sum;
    if (rs_init(&sum, (int)n) < 0) {
        rs_free(&sum);
        release(2, views);
        return NULL;
    }
    const double *xs = views[0].buf;
    double *out = views[1].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < len; i++)
        out[i] = rs_update(&sum, xs[i]) / scale;
    Py_END_ALLOW_THREADS
    rs_free(&sum);
    release(2, views);
    Py_RETURN_NONE;
}

/* kernels._average_tail: Ema (prev + alpha * (x - prev)) or Rma ((prev * (n - 1) + x) / n) from
 * the seed bar on. */
static PyObject *average_tail(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *objs[2];
    Py_ssize_t start, n;
    double seed, alpha;
    int wilder;
    if (!PyArg_ParseTuple(args, "OndndpO:average_tail", &objs[0], &start, &seed, &n, &alpha, &wilder, &objs[1]))
        return NULL;
    Py_buffer views[2];
    Py_ssize_t len = acquire(2, objs, (const char *const[]){"x", "out"}, views);
    if (len < 0)
        return NULL;
    if (start < 0 || start >= len) {
        release(2, views);
        PyErr_SetString(PyExc_ValueError, "average_tail: start outside x");
        return NULL;
    }
    const double *xs = views[0].buf;
    double *out = views[1].buf;
    /* ``n - 1`` and ``n`` are Python ints there, converted exactly for the float operations. */
    double m = (double)(n - 1), nd = (double)n;
    Py_BEGIN_ALLOW_THREADS
    double v = seed;
    out[start] = v;
    for (Py_ssize_t i = start + 1; i < len; i++) {
        double x = xs[i];
        if (x != x)
            out[i] = NAN;
        else if (wilder) {
            v = (v * m + x) / nd;
            out[i] = v;
        } else {
            v = v + alpha * (x - v);
            out[i] = v;
        }
    }
    Py_END_ALLOW_THREADS
    release(2, views);
    Py_RETURN_NONE;
}

/* kernels._ha_open: the Heikin Ashi open, reseeded after an na open. */
static PyObject *ha_open(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *objs[3];
    if (!PyArg_ParseTuple(args, "OOO:ha_open", &objs[0], &objs[1], &objs[2]))
        return NULL;
    Py_buffer views[3];
    Py_ssize_t len = acquire(3, objs, (const char *const[]){"seed", "ha_close", "out"}, views);
    if (len < 0)
        return NULL;
    const double *seed = views[0].buf, *ha_close = views[1].buf;
    double *out = views[2].buf;
    Py_BEGIN_ALLOW_THREADS
    double prev_open = NAN, prev_close = NAN;
    for (Py_ssize_t i = 0; i < len; i++) {
        double o = prev_open != prev_open ? seed[i] : (prev_open + prev_close) / 2;
        out[i] = o;
        prev_open = o;
        prev_close = ha_close[i];
    }
    Py_END_ALLOW_THREADS
    release(3, views);
    Py_RETURN_NONE;
}

static PyMethodDef kernel_methods[] = {
    {"rolling_sum", rolling_sum, METH_VARARGS, "rolling_sum(x, n, scale, out): kernels._rolling_sum, compiled."},
    {"average_tail", average_tail, METH_VARARGS,
     "average_tail(x, start, seed, n, alpha, wilder, out): kernels._average_tail, compiled."},
    {"ha_open", ha_open, METH_VARARGS, "ha_open(seed, ha_close, out): kernels._ha_open, compiled."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "indicators._kernels",
    .m_doc = "The batch kernels of indicators/kernels.py, compiled (see indicators/_kernels.c).",
    .m_size = 0,
    .m_methods = kernel_methods,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
