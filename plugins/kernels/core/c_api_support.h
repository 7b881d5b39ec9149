//! \file c_api_support.h
//! Glue between the C++ kernel API (Status) and the C ABI (status code + thread-local message).
#pragma once

#include "core/status.h"

#include <cstdint>
#include <exception>

namespace trtops
{

//! Records the status's message for trtops_last_error_message() and returns its code.
int32_t reportStatus(Status const& status);

//! Runs `body` (returning Status) and converts any escaping C++ exception into kINTERNAL, so
//! nothing is thrown across the C boundary.
template <typename Body>
int32_t runCApi(char const* op, Body&& body) noexcept
{
    try
    {
        return reportStatus(body());
    }
    catch (std::exception const& e)
    {
        return reportStatus(Status{StatusCode::kINTERNAL, std::string(op) + ": internal error: " + e.what()});
    }
    catch (...)
    {
        return reportStatus(Status{StatusCode::kINTERNAL, std::string(op) + ": internal error"});
    }
}

} // namespace trtops
