#include "common/fields.h"

#include <cuda_fp16.h>

#include <cmath>
#include <cstring>

namespace trtops
{
namespace plugin
{
namespace
{

char const* fieldTypeName(nvinfer1::PluginFieldType type)
{
    switch (type)
    {
    case nvinfer1::PluginFieldType::kFLOAT16: return "float16";
    case nvinfer1::PluginFieldType::kFLOAT32: return "float32";
    case nvinfer1::PluginFieldType::kFLOAT64: return "float64";
    case nvinfer1::PluginFieldType::kINT8: return "int8";
    case nvinfer1::PluginFieldType::kINT16: return "int16";
    case nvinfer1::PluginFieldType::kINT32: return "int32";
    case nvinfer1::PluginFieldType::kINT64: return "int64";
    case nvinfer1::PluginFieldType::kCHAR: return "char";
    default: return "unsupported";
    }
}

bool isIgnored(char const* name)
{
    return std::strcmp(name, "plugin_namespace") == 0 || std::strcmp(name, "plugin_version") == 0;
}

} // namespace

FieldReader::FieldReader(nvinfer1::PluginFieldCollection const* fields)
    : mFields(fields)
{
}

nvinfer1::PluginField const* FieldReader::find(char const* name)
{
    mKnown.insert(name);
    if (mFields == nullptr || mFields->fields == nullptr)
    {
        return nullptr;
    }
    for (int32_t i = 0; i < mFields->nbFields; ++i)
    {
        nvinfer1::PluginField const& field = mFields->fields[i];
        if (field.name != nullptr && std::strcmp(field.name, name) == 0)
        {
            return &field;
        }
    }
    return nullptr;
}

Status FieldReader::readIntegers(char const* name, std::vector<int64_t>& values, bool required, int32_t minLength,
    int32_t maxLength, bool& present)
{
    nvinfer1::PluginField const* field = find(name);
    present = field != nullptr;
    if (field == nullptr)
    {
        return required ? invalidArgument("required field '", name, "' is missing") : Status::ok();
    }
    if (field->length < minLength || field->length > maxLength || (field->length > 0 && field->data == nullptr))
    {
        if (minLength == maxLength)
        {
            return invalidArgument("field '", name, "' must hold ", minLength, " value(s), got ",
                field->length);
        }
        return invalidArgument("field '", name, "' must hold ", minLength, " to ", maxLength,
            " values, got ", field->length);
    }
    values.resize(static_cast<size_t>(field->length));
    for (int32_t i = 0; i < field->length; ++i)
    {
        switch (field->type)
        {
        case nvinfer1::PluginFieldType::kINT8: values[i] = static_cast<int8_t const*>(field->data)[i]; break;
        case nvinfer1::PluginFieldType::kINT16: values[i] = static_cast<int16_t const*>(field->data)[i]; break;
        case nvinfer1::PluginFieldType::kINT32: values[i] = static_cast<int32_t const*>(field->data)[i]; break;
        case nvinfer1::PluginFieldType::kINT64: values[i] = static_cast<int64_t const*>(field->data)[i]; break;
        default:
            return invalidArgument("field '", name, "' must be an integer, got type ",
                fieldTypeName(field->type));
        }
    }
    return Status::ok();
}

Status FieldReader::readInt(char const* name, int32_t& value, bool required, int64_t minValue, int64_t maxValue)
{
    bool present = false;
    std::vector<int64_t> raw;
    TRTOPS_RETURN_IF_ERROR(readIntegers(name, raw, required, 1, 1, present));
    if (!present)
    {
        return Status::ok();
    }
    if (raw[0] < minValue || raw[0] > maxValue)
    {
        return invalidArgument("field '", name, "' must be in [", minValue, ", ", maxValue, "], got ",
            raw[0]);
    }
    value = static_cast<int32_t>(raw[0]);
    return Status::ok();
}

Status FieldReader::readIntArray(char const* name, std::vector<int32_t>& values, bool required, int32_t length,
    int64_t minValue, int64_t maxValue)
{
    bool present = false;
    std::vector<int64_t> raw;
    TRTOPS_RETURN_IF_ERROR(readIntegers(name, raw, required, length, length, present));
    if (!present)
    {
        return Status::ok();
    }
    values.clear();
    for (size_t i = 0; i < raw.size(); ++i)
    {
        if (raw[i] < minValue || raw[i] > maxValue)
        {
            return invalidArgument("field '", name, "'[", i, "] must be in [", minValue, ", ", maxValue,
                "], got ", raw[i]);
        }
        values.push_back(static_cast<int32_t>(raw[i]));
    }
    return Status::ok();
}

Status FieldReader::readFloatArray(
    char const* name, std::vector<float>& values, bool required, int32_t minLength, int32_t maxLength)
{
    nvinfer1::PluginField const* field = find(name);
    if (field == nullptr)
    {
        return required ? invalidArgument("required field '", name, "' is missing") : Status::ok();
    }
    if (field->length < minLength || field->length > maxLength || (field->length > 0 && field->data == nullptr))
    {
        return invalidArgument("field '", name, "' must hold ", minLength, " to ", maxLength,
            " values, got ", field->length);
    }
    values.resize(static_cast<size_t>(field->length));
    for (int32_t i = 0; i < field->length; ++i)
    {
        switch (field->type)
        {
        case nvinfer1::PluginFieldType::kFLOAT32: values[i] = static_cast<float const*>(field->data)[i]; break;
        case nvinfer1::PluginFieldType::kFLOAT64:
            values[i] = static_cast<float>(static_cast<double const*>(field->data)[i]);
            break;
        case nvinfer1::PluginFieldType::kFLOAT16:
            values[i] = __half2float(static_cast<__half const*>(field->data)[i]);
            break;
        default:
            return invalidArgument("field '", name, "' must be a float, got type ",
                fieldTypeName(field->type));
        }
        if (!std::isfinite(values[i]))
        {
            return invalidArgument("field '", name, "' must be finite, got ", values[i]);
        }
    }
    return Status::ok();
}

Status FieldReader::readFloat(char const* name, float& value, bool required)
{
    std::vector<float> values;
    nvinfer1::PluginField const* field = find(name);
    if (field == nullptr)
    {
        return required ? invalidArgument("required field '", name, "' is missing") : Status::ok();
    }
    TRTOPS_RETURN_IF_ERROR(readFloatArray(name, values, required, 1, 1));
    value = values[0];
    return Status::ok();
}

Status FieldReader::rejectUnknown() const
{
    if (mFields == nullptr || mFields->fields == nullptr)
    {
        return Status::ok();
    }
    for (int32_t i = 0; i < mFields->nbFields; ++i)
    {
        char const* name = mFields->fields[i].name;
        if (name == nullptr)
        {
            return invalidArgument("field ", i, " has no name");
        }
        if (!isIgnored(name) && mKnown.count(name) == 0)
        {
            std::string known;
            for (auto const& k : mKnown)
            {
                known += (known.empty() ? "" : ", ") + k;
            }
            return invalidArgument("unknown field '", name, "' (fields: ", known, ")");
        }
    }
    return Status::ok();
}

void FieldList::addInt(char const* name, int32_t const* value)
{
    mFields.emplace_back(name, value, nvinfer1::PluginFieldType::kINT32, 1);
}

void FieldList::addFloat(char const* name, float const* value)
{
    mFields.emplace_back(name, value, nvinfer1::PluginFieldType::kFLOAT32, 1);
}

void FieldList::addIntArray(char const* name, std::vector<int32_t> const* values)
{
    mFields.emplace_back(name, values->data(), nvinfer1::PluginFieldType::kINT32,
        static_cast<int32_t>(values->size()));
}

void FieldList::addFloatArray(char const* name, std::vector<float> const* values)
{
    mFields.emplace_back(name, values->data(), nvinfer1::PluginFieldType::kFLOAT32,
        static_cast<int32_t>(values->size()));
}

nvinfer1::PluginFieldCollection const* FieldList::collection()
{
    mCollection.nbFields = static_cast<int32_t>(mFields.size());
    mCollection.fields = mFields.data();
    return &mCollection;
}

} // namespace plugin
} // namespace trtops
