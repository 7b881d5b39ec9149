//! \file fields.h
//! Reading a plugin's fields from a PluginFieldCollection (creator side) and exposing them again
//! for serialization (getFieldsToSerialize). Every problem becomes a Status naming the field and
//! the value (the creator's guard adds the plugin's name); nothing aborts.
#pragma once

#include "core/status.h"

#include <NvInferRuntime.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace trtops
{
namespace plugin
{

//! Reads typed fields from a collection. Integer fields accept any integer field type of the
//! right length (ONNX INT attributes arrive as kINT32, Python callers often pass kINT64); float
//! fields accept kFLOAT32/kFLOAT64/kFLOAT16. A field absent from the collection keeps the value
//! the caller initialized (its default) unless it is required.
class FieldReader
{
public:
    explicit FieldReader(nvinfer1::PluginFieldCollection const* fields);

    Status readInt(char const* name, int32_t& value, bool required, int64_t minValue, int64_t maxValue);
    Status readFloat(char const* name, float& value, bool required);
    Status readIntArray(char const* name, std::vector<int32_t>& values, bool required, int32_t length,
        int64_t minValue, int64_t maxValue);
    Status readFloatArray(char const* name, std::vector<float>& values, bool required, int32_t minLength,
        int32_t maxLength);
    //! Fails on fields the plugin does not know (a typo must not silently fall back to a default).
    //! TensorRT's own bookkeeping attributes (plugin_namespace, plugin_version) are ignored.
    Status rejectUnknown() const;

private:
    nvinfer1::PluginField const* find(char const* name);
    Status readIntegers(char const* name, std::vector<int64_t>& values, bool required, int32_t minLength,
        int32_t maxLength, bool& present);

    nvinfer1::PluginFieldCollection const* mFields;
    std::set<std::string> mKnown;
};

//! Owns PluginField entries pointing at a plugin's members, for getFieldsToSerialize and for the
//! creator's getFieldNames. The pointed-to members must outlive it (keep both in one object).
class FieldList
{
public:
    void addInt(char const* name, int32_t const* value);
    void addFloat(char const* name, float const* value);
    void addIntArray(char const* name, std::vector<int32_t> const* values);
    void addFloatArray(char const* name, std::vector<float> const* values);
    nvinfer1::PluginFieldCollection const* collection();

private:
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mCollection{};
};

} // namespace plugin
} // namespace trtops
