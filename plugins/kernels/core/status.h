//! \file status.h
//! Error reporting without exceptions: every kernel entry point returns a Status that names the
//! operator, the field and the offending value. The plugins turn it into a TensorRT log message,
//! the C ABI into an error code plus trtops_last_error_message().
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

namespace trtops
{

//! Values are part of the C ABI (trtops/_native.py mirrors them).
enum class StatusCode : int32_t
{
    kOK = 0,
    kINVALID_ARGUMENT = 1, //!< a shape, field or pointer the caller passed is invalid
    kUNSUPPORTED = 2,      //!< valid, but this build has no path for it (dtype, layout, device)
    kCUDA_ERROR = 3,       //!< the CUDA runtime reported an error
    kINTERNAL = 4,         //!< a bug in trtops
};

class [[nodiscard]] Status
{
public:
    Status() = default;
    Status(StatusCode code, std::string message)
        : mCode(code)
        , mMessage(std::move(message))
    {
    }

    static Status ok()
    {
        return Status{};
    }

    bool isOk() const
    {
        return mCode == StatusCode::kOK;
    }
    StatusCode code() const
    {
        return mCode;
    }
    std::string const& message() const
    {
        return mMessage;
    }

private:
    StatusCode mCode{StatusCode::kOK};
    std::string mMessage;
};

namespace detail
{
inline void appendAll(std::ostringstream&) {}
template <typename T, typename... Rest>
void appendAll(std::ostringstream& os, T const& first, Rest const&... rest)
{
    os << first;
    appendAll(os, rest...);
}
} // namespace detail

//! Builds a message from its parts: invalidArgument("roi_align: rois must have 5 columns, got ", n).
template <typename... Parts>
Status invalidArgument(Parts const&... parts)
{
    std::ostringstream os;
    detail::appendAll(os, parts...);
    return Status{StatusCode::kINVALID_ARGUMENT, os.str()};
}

template <typename... Parts>
Status unsupported(Parts const&... parts)
{
    std::ostringstream os;
    detail::appendAll(os, parts...);
    return Status{StatusCode::kUNSUPPORTED, os.str()};
}

//! Status of a CUDA runtime result; `what` names the call or kernel for the message.
Status cudaStatus(cudaError_t result, char const* what);

//! The error state left by the last kernel launch on this thread (cudaGetLastError).
Status lastLaunchStatus(char const* kernelName);

} // namespace trtops

//! Returns from the enclosing function when `expr` (a Status) is an error.
#define TRTOPS_RETURN_IF_ERROR(expr)                                                                                   \
    do                                                                                                                 \
    {                                                                                                                  \
        ::trtops::Status trtopsStatus_ = (expr);                                                                       \
        if (!trtopsStatus_.isOk())                                                                                     \
        {                                                                                                              \
            return trtopsStatus_;                                                                                      \
        }                                                                                                              \
    } while (0)

//! Returns a kCUDA_ERROR Status from the enclosing function when a CUDA runtime call fails.
#define TRTOPS_CUDA_RETURN_IF_ERROR(call) TRTOPS_RETURN_IF_ERROR(::trtops::cudaStatus((call), #call))
