// Streaming zstd decompression (libzstd's ZSTD_DCtx / ZSTD_decompressStream)
// for tar+zstd image layers: Node 20's zlib has no zstd. The object keeps only
// the decompression context; the caller feeds input and gets output in
// bounded steps, so a layer is never held whole and a highly compressed
// frame cannot make one call produce gigabytes (src/image/zstd.ts drives it
// under stream backpressure).
#include <napi.h>
#include <zstd.h>

#include <cstddef>
#include <string>
#include <vector>

namespace tsrun {
namespace {

// Most output one decompress() call returns before handing control back.
constexpr size_t kMaxOutputPerCall = 1024 * 1024;

class ZstdDecompressor : public Napi::ObjectWrap<ZstdDecompressor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ZstdDecompressor",
                       {InstanceMethod<&ZstdDecompressor::Decompress>("decompress"),
                        InstanceMethod<&ZstdDecompressor::End>("end"),
                        InstanceMethod<&ZstdDecompressor::Free>("free")});
  }

  explicit ZstdDecompressor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ZstdDecompressor>(info) {
    dctx_ = ZSTD_createDCtx();
    if (dctx_ == nullptr) throw Napi::Error::New(info.Env(), "zstd: cannot allocate a decompression context");
  }

  ~ZstdDecompressor() override { Release(); }

 private:
  void Release() {
    if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
    dctx_ = nullptr;
  }

  ZSTD_DCtx* Ctx(Napi::Env env) {
    if (dctx_ == nullptr) throw Napi::Error::New(env, "zstd: decompressor already finished");
    return dctx_;
  }

  static Napi::Error ZstdError(Napi::Env env, size_t code) {
    Napi::Error error = Napi::Error::New(env, std::string("corrupt zstd data: ") + ZSTD_getErrorName(code));
    error.Value().Set("code", Napi::String::New(env, "ERR_ZSTD"));
    return error;
  }

  // decompress(input: Buffer) → { chunks: Buffer[], consumed: number, flushed: boolean }
  // Decompresses from the start of input until it is consumed and nothing
  // is pending, or until about kMaxOutputPerCall bytes were produced. When
  // flushed is false the caller calls again with input.subarray(consumed)
  // (possibly empty) to get the rest.
  Napi::Value Decompress(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1 || !info[0].IsBuffer())
      throw Napi::TypeError::New(env, "decompress: expected one Buffer");
    ZSTD_DCtx* dctx = Ctx(env);
    Napi::Buffer<char> input = info[0].As<Napi::Buffer<char>>();
    ZSTD_inBuffer in = {input.Data(), input.Length(), 0};
    const size_t out_size = ZSTD_DStreamOutSize();
    Napi::Array chunks = Napi::Array::New(env);
    uint32_t count = 0;
    size_t produced = 0;
    bool flushed = false;
    while (produced < kMaxOutputPerCall) {
      std::vector<char> buf(out_size);
      ZSTD_outBuffer out = {buf.data(), buf.size(), 0};
      const size_t in_before = in.pos;
      size_t ret = ZSTD_decompressStream(dctx, &out, &in);
      if (ZSTD_isError(ret)) {
        Release();
        throw ZstdError(env, ret);
      }
      // A call that moved nothing (asked to flush after a frame ended) says
      // nothing about where the input ends: keep the last real answer.
      if (in.pos != in_before || out.pos > 0) {
        fed_ = true;
        last_ = ret;
      }
      if (out.pos > 0) {
        chunks.Set(count++, Napi::Buffer<char>::Copy(env, buf.data(), out.pos));
        produced += out.pos;
      }
      // A full output buffer may leave data inside the context: go round again.
      if (in.pos == in.size && out.pos < out.size) {
        flushed = true;
        break;
      }
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("chunks", chunks);
    result.Set("consumed", Napi::Number::New(env, double(in.pos)));
    result.Set("flushed", Napi::Boolean::New(env, flushed));
    return result;
  }

  // end(): throws unless the input ended on a frame boundary; frees the context.
  void End(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Ctx(env);
    bool complete = fed_ && last_ == 0;
    Release();
    if (!complete) {
      Napi::Error error = Napi::Error::New(env, fed_ ? "corrupt zstd data: truncated frame" : "corrupt zstd data: empty input");
      error.Value().Set("code", Napi::String::New(env, "ERR_ZSTD"));
      throw error;
    }
  }

  // free(): releases the context early (a destroyed stream); idempotent.
  void Free(const Napi::CallbackInfo&) { Release(); }

  ZSTD_DCtx* dctx_ = nullptr;
  size_t last_ = 1;
  bool fed_ = false;
};

Napi::Value CreateZstdDecompressor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::FunctionReference* ctor = env.GetInstanceData<Napi::FunctionReference>();
  return ctor->New({});
}

}  // namespace

void InitZstd(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ZstdDecompressor::Define(env);
  auto* ref = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.SetInstanceData<Napi::FunctionReference>(ref);
  exports.Set("createZstdDecompressor", Napi::Function::New(env, CreateZstdDecompressor, "createZstdDecompressor"));
}

}  // namespace tsrun
