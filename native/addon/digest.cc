// sha256Hex({ text }): the SHA-256 of a string's UTF-8 bytes, in hex, by
// OpenSSL's SHA256(), which the node binary exports to addons. For the chain
// ids every `run` of a multi-layer image computes: loading node:crypto and
// its first hash take ~3 ms of such a command, and a hash in JavaScript
// runs ~50-100 µs in a process too short-lived for V8 to optimize it.
#include "glue.h"

#include <openssl/sha.h>

// Weak: a node built without OpenSSL's symbols (or with another library)
// still loads the addon; sha256Hex is then left out, and the TypeScript side
// hashes with node:crypto.
#pragma weak SHA256

namespace tsrun {
namespace {

Napi::Value Sha256Hex(const Napi::CallbackInfo& info) {
  Opts o(info, "sha256Hex");
  std::string text = o.Str("text");
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  static const char digits[] = "0123456789abcdef";
  std::string hex(2 * SHA256_DIGEST_LENGTH, '0');
  for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  return Napi::String::New(o.env(), hex);
}

}  // namespace

void InitDigest(Napi::Env env, Napi::Object exports) {
  if (SHA256 != nullptr) exports.Set("sha256Hex", Napi::Function::New(env, Sha256Hex, "sha256Hex"));
}

}  // namespace tsrun
