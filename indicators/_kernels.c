/* The batch kernels of indicators/kernels.py, compiled: the loops numba compiles there
 * (``_rolling_sum``, ``_average_tail``, ``_ha_open``), transcribed operation for operation in the
 * same order on IEEE doubles, so the same bits (built with -ffp-contract=off, never -ffast-math:
 * see indicators/_frame.c). The default install runs these where it would otherwise run the
 * list loops; tests/indicators/test_batch_kernels.py holds them to the Python loops bit for bit.
 *
 * Arguments are contiguous float64 buffers (numpy arrays); ``out`` is written in place.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

/* A contiguous float64 buffer, writable when asked; -1 with an exception otherwise. */
static int doubles(PyObject *obj, Py_buffer *view, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (view->itemsize != sizeof(double) || view->format == NULL || strcmp(view->format, "d") != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be contiguous float64", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* kernels._rolling_sum: math.sum (scale 1) or ta.sma (scale n) for n >= 2. */
static PyObject *rolling_sum(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *x_obj, *out_obj;
    Py_ssize_t n;
    double scale;
    if (!PyArg_ParseTuple(args, "OndO:rolling_sum", &x_obj, &n, &scale, &out_obj))
        return NULL;
    if (n < 2) {
        PyErr_Format(PyExc_ValueError, "rolling_sum: n must be >= 2, got %zd", n);
        return NULL;
    }
    Py_buffer xv, ov;
    if (doubles(x_obj, &xv, 0, "x") < 0)
        return NULL;
    if (doubles(out_obj, &ov, 1, "out") < 0) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    Py_ssize_t len = xv.len / (Py_ssize_t)sizeof(double);
    if (ov.len < xv.len) {
        PyBuffer_Release(&xv);
        PyBuffer_Release(&ov);
        PyErr_SetString(PyExc_ValueError, "rolling_sum: out is shorter than x");
        return NULL;
    }
    double *stored = PyMem_Calloc((size_t)n, sizeof(double)), *raw = PyMem_Calloc((size_t)n, sizeof(double));
    if (stored == NULL || raw == NULL) {
        PyMem_Free(stored);
        PyMem_Free(raw);
        PyBuffer_Release(&xv);
        PyBuffer_Release(&ov);
        return PyErr_NoMemory();
    }
    const double *xs = xv.buf;
    double *out = ov.buf;
    Py_BEGIN_ALLOW_THREADS
    double s = 0.0, comp = 0.0;
    Py_ssize_t count = 0, h = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        double x = xs[i];
        if (x != x) {
            out[i] = count >= n ? s / scale : NAN;
            continue;
        }
        raw[h] = x;
        int fires = 0;
        if (comp != 0.0 && x != 0.0) {
            double b = comp > 0.0 ? comp : -comp;
            double r = x + b;
            if (r != 0.0 && r - r == 0.0)
                fires = b - (r - x) > 0.0;
        }
        if (fires) {
            s = x;
            Py_ssize_t j = h;
            Py_ssize_t older = count < n ? count : n - 1;
            for (Py_ssize_t k = 0; k < older; k++) {
                j = j > 0 ? j - 1 : n - 1;
                s = raw[j] + s;
            }
            comp = 0.0;
            stored[h] = x;
        } else {
            double y1 = -stored[h] - comp;
            double t = s + y1;
            double e1 = (t - s) - y1;
            double y2 = x - e1;
            double s_new = t + y2;
            comp = (s_new - t) - y2;
            s = s_new;
            stored[h] = y2;
        }
        h = h + 1 < n ? h + 1 : 0;
        if (count < n)
            count += 1;
        out[i] = count >= n ? s / scale : NAN;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(stored);
    PyMem_Free(raw);
    PyBuffer_Release(&xv);
    PyBuffer_Release(&ov);
    Py_RETURN_NONE;
}

/* kernels._average_tail: Ema (prev + alpha * (x - prev)) or Rma ((prev * (n - 1) + x) / n) from
 * the seed bar on. */
static PyObject *average_tail(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *x_obj, *out_obj;
    Py_ssize_t start, n;
    double seed, alpha;
    int wilder;
    if (!PyArg_ParseTuple(args, "OndndpO:average_tail", &x_obj, &start, &seed, &n, &alpha, &wilder, &out_obj))
        return NULL;
    Py_buffer xv, ov;
    if (doubles(x_obj, &xv, 0, "x") < 0)
        return NULL;
    if (doubles(out_obj, &ov, 1, "out") < 0) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    Py_ssize_t len = xv.len / (Py_ssize_t)sizeof(double);
    if (ov.len < xv.len || start < 0 || start >= len) {
        PyBuffer_Release(&xv);
        PyBuffer_Release(&ov);
        PyErr_SetString(PyExc_ValueError, "average_tail: start outside x, or out shorter than x");
        return NULL;
    }
    const double *xs = xv.buf;
    double *out = ov.buf;
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
    PyBuffer_Release(&xv);
    PyBuffer_Release(&ov);
    Py_RETURN_NONE;
}

/* kernels._ha_open: the Heikin Ashi open, reseeded after an na open. */
static PyObject *ha_open(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *seed_obj, *close_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OOO:ha_open", &seed_obj, &close_obj, &out_obj))
        return NULL;
    Py_buffer sv, cv, ov;
    if (doubles(seed_obj, &sv, 0, "seed") < 0)
        return NULL;
    if (doubles(close_obj, &cv, 0, "ha_close") < 0) {
        PyBuffer_Release(&sv);
        return NULL;
    }
    if (doubles(out_obj, &ov, 1, "out") < 0) {
        PyBuffer_Release(&sv);
        PyBuffer_Release(&cv);
        return NULL;
    }
    Py_ssize_t len = sv.len / (Py_ssize_t)sizeof(double);
    if (cv.len < sv.len || ov.len < sv.len) {
        PyBuffer_Release(&sv);
        PyBuffer_Release(&cv);
        PyBuffer_Release(&ov);
        PyErr_SetString(PyExc_ValueError, "ha_open: ha_close or out shorter than seed");
        return NULL;
    }
    const double *seed = sv.buf, *ha_close = cv.buf;
    double *out = ov.buf;
    Py_BEGIN_ALLOW_THREADS
    double prev_open = NAN, prev_close = NAN;
    for (Py_ssize_t i = 0; i < len; i++) {
        double o = prev_open != prev_open ? seed[i] : (prev_open + prev_close) / 2;
        out[i] = o;
        prev_open = o;
        prev_close = ha_close[i];
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&sv);
    PyBuffer_Release(&cv);
    PyBuffer_Release(&ov);
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
