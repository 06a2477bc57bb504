{
  "targets": [
    {
      "target_name": "tsflanneld_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/napi_util.cc",
        "native/src/tun.cc",
        "native/src/udp.cc",
        "native/src/thread.cc",
        "native/src/csum.cc",
        "native/src/notify.cc",
        "native/src/loop_io.cc",
        "native/src/segment.cc",
        "native/src/reload.cc",
        "native/src/tap.cc",
        "native/src/udp6.cc",
        "native/src/mmsg.cc",
        "native/src/wake.cc",
        "native/src/trim.cc",
        "native/src/packet.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
