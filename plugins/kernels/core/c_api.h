/*! \file c_api.h
 * The C ABI of libtrtops_kernels.so. Every function returns a trtops status code (0 = success,
 * values of trtops::StatusCode); on failure trtops_last_error_message() holds a message naming the
 * operator, the field and the value. `device` selects the CUDA kernel (pointers are device
 * pointers, work is queued on `stream`, a cudaStream_t, on the current device) or the host
 * implementation (pointers are host pointers, `stream` is ignored).
 * Operator families declare their functions in their own headers (roi/, nms/, deform_conv/).
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
#define TRTOPS_C_API extern "C" __attribute__((visibility("default")))
#else
#define TRTOPS_C_API __attribute__((visibility("default")))
#endif

/*! Version of the library, e.g. "0.1.0". */
TRTOPS_C_API char const* trtops_version(void);
/*! Message of the last failed call on this thread; "" when none failed. */
TRTOPS_C_API char const* trtops_last_error_message(void);
/*! CUDA runtime version the library was compiled against (e.g. 13000). */
TRTOPS_C_API int32_t trtops_cuda_runtime_version(void);
/*! Number of CUDA devices visible to the runtime; 0 without a driver or GPU (never fails). */
TRTOPS_C_API int32_t trtops_cuda_device_count(void);
