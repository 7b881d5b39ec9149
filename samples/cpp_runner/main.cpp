//! trtops_run: load libtrtops_plugins.so through IPluginRegistry::loadLibrary, deserialize an
//! engine that uses the trtops plugins, run it once on random inputs and print every output's
//! shape and checksum.
//!
//!   trtops_run ENGINE PLUGIN_LIBRARY [NAME:DxDx... ...]
//!
//! Input shapes default to the engine's first optimization profile's opt shapes. Outputs with
//! data-dependent shapes (trtops NMS without padding) are sized through an IOutputAllocator.
#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace
{

class Logger : public nvinfer1::ILogger
{
public:
    void log(Severity severity, char const* message) noexcept override
    {
        if (severity <= Severity::kWARNING)
        {
            std::cerr << (severity <= Severity::kERROR ? "[E] " : "[W] ") << message << "\n";
        }
    }
};

bool check(cudaError_t result, char const* what)
{
    if (result != cudaSuccess)
    {
        std::cerr << what << " failed: " << cudaGetErrorString(result) << "\n";
        return false;
    }
    return true;
}

size_t elementSize(nvinfer1::DataType type)
{
    switch (type)
    {
    case nvinfer1::DataType::kFLOAT: return 4;
    case nvinfer1::DataType::kHALF: return 2;
    case nvinfer1::DataType::kBF16: return 2;
    case nvinfer1::DataType::kINT32: return 4;
    case nvinfer1::DataType::kINT64: return 8;
    case nvinfer1::DataType::kINT8: return 1;
    case nvinfer1::DataType::kUINT8: return 1;
    case nvinfer1::DataType::kBOOL: return 1;
    default: return 0;
    }
}

int64_t volume(nvinfer1::Dims const& dims)
{
    int64_t count = 1;
    for (int32_t i = 0; i < dims.nbDims; ++i)
    {
        count *= dims.d[i];
    }
    return count;
}

std::string toString(nvinfer1::Dims const& dims)
{
    std::ostringstream os;
    os << "[";
    for (int32_t i = 0; i < dims.nbDims; ++i)
    {
        os << (i ? ", " : "") << dims.d[i];
    }
    os << "]";
    return os.str();
}

//! Device memory for outputs whose size is known only after enqueue.
class OutputAllocator : public nvinfer1::IOutputAllocator
{
public:
    void* reallocateOutputAsync(
        char const*, void* current, uint64_t size, uint64_t, cudaStream_t stream) noexcept override
    {
        if (size > mSize)
        {
            if (mMemory != nullptr)
            {
                cudaFreeAsync(mMemory, stream);
            }
            mMemory = nullptr;
            mSize = 0;
            if (cudaMallocAsync(&mMemory, size, stream) == cudaSuccess)
            {
                mSize = size;
            }
        }
        return mSize >= size ? mMemory : current;
    }
    void notifyShape(char const*, nvinfer1::Dims const& dims) noexcept override
    {
        mDims = dims;
    }
    ~OutputAllocator() override
    {
        cudaFree(mMemory);
    }
    void* mMemory{nullptr};
    uint64_t mSize{0};
    nvinfer1::Dims mDims{};
};

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3)
    {
        std::cerr << "usage: trtops_run ENGINE PLUGIN_LIBRARY [NAME:DxDx... ...]\n";
        return 2;
    }
    std::map<std::string, nvinfer1::Dims> shapes;
    for (int i = 3; i < argc; ++i)
    {
        std::string const arg = argv[i];
        auto colon = arg.rfind(':');
        nvinfer1::Dims dims{};
        std::stringstream dimsText(arg.substr(colon + 1));
        for (std::string part; std::getline(dimsText, part, 'x');)
        {
            dims.d[dims.nbDims++] = std::stoll(part);
        }
        shapes[arg.substr(0, colon)] = dims;
    }

    Logger logger;
    std::unique_ptr<nvinfer1::IRuntime> runtime{nvinfer1::createInferRuntime(logger)};
    if (!runtime)
    {
        std::cerr << "createInferRuntime failed\n";
        return 1;
    }
    if (runtime->getPluginRegistry().loadLibrary(argv[2]) == nullptr)
    {
        std::cerr << "loadLibrary(" << argv[2] << ") failed\n";
        return 1;
    }
    std::ifstream file(argv[1], std::ios::binary);
    std::vector<char> plan((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::unique_ptr<nvinfer1::ICudaEngine> engine{runtime->deserializeCudaEngine(plan.data(), plan.size())};
    if (!engine)
    {
        std::cerr << "deserializeCudaEngine(" << argv[1] << ") failed\n";
        return 1;
    }
    std::unique_ptr<nvinfer1::IExecutionContext> context{engine->createExecutionContext()};
    cudaStream_t stream{};
    if (!context || !check(cudaStreamCreate(&stream), "cudaStreamCreate"))
    {
        return 1;
    }

    std::mt19937 rng(0);
    std::vector<void*> buffers;
    std::map<std::string, std::unique_ptr<OutputAllocator>> allocators;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i)
    {
        char const* name = engine->getIOTensorName(i);
        if (engine->getTensorIOMode(name) != nvinfer1::TensorIOMode::kINPUT)
        {
            continue;
        }
        nvinfer1::Dims dims = shapes.count(name) != 0
            ? shapes[name]
            : engine->getProfileShape(name, 0, nvinfer1::OptProfileSelector::kOPT);
        nvinfer1::DataType const type = engine->getTensorDataType(name);
        size_t const bytes = static_cast<size_t>(volume(dims)) * elementSize(type);
        // Random bytes are not meaningful detections; inputs are uniform [0, 1) floats where the
        // type is float32, which is enough to exercise every plugin.
        std::vector<uint8_t> host(bytes);
        if (type == nvinfer1::DataType::kFLOAT)
        {
            std::uniform_real_distribution<float> uniform(0.F, 1.F);
            auto* values = reinterpret_cast<float*>(host.data());
            for (size_t k = 0; k < bytes / 4; ++k)
            {
                values[k] = uniform(rng);
            }
        }
        void* device = nullptr;
        if (!check(cudaMalloc(&device, bytes + 1), "cudaMalloc")
            || !check(cudaMemcpy(device, host.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy"))
        {
            return 1;
        }
        buffers.push_back(device);
        context->setInputShape(name, dims);
        context->setTensorAddress(name, device);
        std::cout << "input  " << name << " " << toString(dims) << "\n";
    }
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i)
    {
        char const* name = engine->getIOTensorName(i);
        if (engine->getTensorIOMode(name) != nvinfer1::TensorIOMode::kOUTPUT)
        {
            continue;
        }
        auto allocator = std::make_unique<OutputAllocator>();
        context->setOutputAllocator(name, allocator.get());
        allocators[name] = std::move(allocator);
    }
    if (!context->enqueueV3(stream) || !check(cudaStreamSynchronize(stream), "enqueueV3"))
    {
        std::cerr << "inference failed\n";
        return 1;
    }
    for (auto const& [name, allocator] : allocators)
    {
        nvinfer1::DataType const type = engine->getTensorDataType(name.c_str());
        int64_t const count = volume(allocator->mDims);
        std::vector<uint8_t> host(static_cast<size_t>(count) * elementSize(type));
        if (!host.empty()
            && !check(cudaMemcpy(host.data(), allocator->mMemory, host.size(), cudaMemcpyDeviceToHost), "cudaMemcpy"))
        {
            return 1;
        }
        double checksum = 0;
        for (int64_t k = 0; k < count; ++k)
        {
            if (type == nvinfer1::DataType::kFLOAT)
            {
                checksum += reinterpret_cast<float const*>(host.data())[k];
            }
            else if (type == nvinfer1::DataType::kINT64)
            {
                checksum += static_cast<double>(reinterpret_cast<int64_t const*>(host.data())[k]);
            }
            else if (type == nvinfer1::DataType::kINT32)
            {
                checksum += reinterpret_cast<int32_t const*>(host.data())[k];
            }
        }
        std::cout << "output " << name << " " << toString(allocator->mDims) << " checksum " << checksum << "\n";
    }
    for (void* buffer : buffers)
    {
        cudaFree(buffer);
    }
    cudaStreamDestroy(stream);
    return 0;
}
