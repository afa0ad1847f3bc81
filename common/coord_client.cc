#include "common/coord_client.h"

#include "common/coord_protocol.h"
#include "common/secure_client.h"
#include "common/wire.h"

namespace tailsafe {

Result<nlohmann::json> CoordinatorRequest(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                          int timeout_ms) {
  const std::string& address = coordinator.address;
  auto conn = SecureClient::Connect(address, &coordinator.keys, timeout_ms, "the coordinator");
  if (!conn) {
    const std::string& m = conn.status().message();
    if (m.find("cannot reach") != std::string::npos) return Status::Error(m + " (is tailsafe-coordinator running?)");
    return conn.status();
  }
  if (Status s = (*conn)->Send(ControlFrame(request)); !s) return s;
  FrameReader reader;
  std::string plain;
  for (;;) {
    Frame f;
    Status err;
    FrameReader::Result r = reader.Next(&f, &err);
    if (r == FrameReader::Result::kError) return err.Context("reply from the coordinator at " + address);
    if (r == FrameReader::Result::kFrame) {
      std::string_view text;
      if (Status s = DecodeControl(f, &text); !s) return s.Context("reply from the coordinator");
      return ParseControl(text);
    }
    plain.clear();
    Result<size_t> n = (*conn)->Receive(&plain, timeout_ms);
    if (!n) return n.status();
    if (*n == 0) return Status::Error("the coordinator at " + address + " closed the connection without a reply");
    reader.Feed(plain.data(), plain.size());
  }
}

}  // namespace tailsafe
