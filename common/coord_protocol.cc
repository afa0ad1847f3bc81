#include "common/coord_protocol.h"

#include "common/names.h"
#include "common/wire.h"

namespace tailsafe {

namespace {

std::string TypeOf(const nlohmann::json& msg) {
  auto it = msg.find("type");
  return it != msg.end() && it->is_string() ? it->get<std::string>() : std::string("message");
}

}  // namespace

Result<nlohmann::json> ParseControl(std::string_view text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Status::Error("a CONTROL frame is not valid JSON");
  if (!doc.is_object()) return Status::Error("a CONTROL frame is not a JSON object");
  auto it = doc.find("type");
  if (it == doc.end() || !it->is_string()) return Status::Error("a CONTROL message has no string 'type'");
  return doc;
}

std::string ControlFrame(const nlohmann::json& doc) {
  return EncodeControl(doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Status ReadString(const nlohmann::json& msg, const char* field, std::string* out) {
  auto it = msg.find(field);
  if (it == msg.end() || !it->is_string()) {
    return Status::Error(TypeOf(msg) + ": field '" + field + "' must be a string");
  }
  *out = it->get<std::string>();
  return Status::Ok();
}

Status ReadUint(const nlohmann::json& msg, const char* field, uint64_t* out) {
  auto it = msg.find(field);
  if (it == msg.end() || !it->is_number_unsigned()) {
    return Status::Error(TypeOf(msg) + ": field '" + field + "' must be an unsigned integer");
  }
  *out = it->get<uint64_t>();
  return Status::Ok();
}

Status ReadArray(const nlohmann::json& msg, const char* field, const nlohmann::json** out) {
  auto it = msg.find(field);
  if (it == msg.end() || !it->is_array()) return Status::Error(TypeOf(msg) + ": field '" + field + "' must be an array");
  *out = &*it;
  return Status::Ok();
}

Result<RetainPlan> ParseRetain(const nlohmann::json& msg) {
  const nlohmann::json* bolts = nullptr;
  if (Status s = ReadArray(msg, "bolts", &bolts); !s) return s;
  RetainPlan plan;
  for (size_t i = 0; i < bolts->size(); ++i) {
    const nlohmann::json& item = (*bolts)[i];
    std::string origin, bolt;
    uint64_t from = 0;
    Status s = item.is_object() ? Status::Ok() : Status::Error("must be an object");
    if (s) s = ReadString(item, "origin", &origin);
    if (s) s = ReadString(item, "bolt", &bolt);
    if (s) s = ReadUint(item, "from", &from);
    if (s && !IsValidName(origin)) s = Status::Error("origin '" + origin.substr(0, 64) + "' is not a valid name");
    if (s && !IsValidName(bolt)) s = Status::Error("bolt '" + bolt.substr(0, 64) + "' is not a valid name");
    if (!s) return Status::Error("retain: bolts[" + std::to_string(i) + "]: " + s.message());
    plan[{origin, bolt}] = from;
  }
  return plan;
}

std::string HexEncode(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

Result<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status::Error("hex data has an odd length, " + std::to_string(hex.size()));
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::Error("hex data has a bad digit at " + std::to_string(2 * i + (hi < 0 ? 0 : 1)));
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace tailsafe
