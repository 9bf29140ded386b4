// Golden prompts from llama.cpp's built-in chat formatter (llama_chat_apply_template,
// hand-written C++ per template family, no Jinja) for template.test.ts. Templates
// are recognized by llama.cpp's heuristics; BOS is never written (the tokenizer adds it).
//
// Links the libllama that node-llama-cpp 3.21.1 ships (llama.cpp release v0.4.0).
// Regenerate (from the repository root) with:
//   git clone -q node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llcpp
//   B=node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
//   g++ -std=c++17 -O1 -I/tmp/llcpp/include -I/tmp/llcpp/ggml/include \
//     tests/unit/engine/chat/llama-chat-oracle.cpp -o /tmp/llama-chat-oracle \
//     -L$B -l:libllama.v0.4.0.so -Wl,-rpath,$PWD/$B
//   /tmp/llama-chat-oracle ../shared/fixtures/templates > tests/unit/engine/chat/llama-chat.golden.json
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"

static std::string json_string(const std::string & s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"':  out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); out += b; }
                else out += (char) c;
        }
    }
    return out + "\"";
}

int main(int argc, char ** argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s <templates dir>\n", argv[0]); return 1; }
    const std::string dir = argv[1];
    const std::vector<llama_chat_message> with_system = {
        { "system", "You are a helpful assistant." },
        { "user", "Hello there!" },
        { "assistant", "Hi! How can I help?" },
        { "user", "Tell me a joke." },
    };
    const std::vector<llama_chat_message> without_system(with_system.begin() + 1, with_system.end());
    struct Case { const char * file; bool system; };
    const std::vector<Case> cases = {
        { "microsoft-Phi-3.5-mini-instruct.jinja", true },
        { "google-gemma-2-2b-it.jinja", false },
        { "Qwen-Qwen2.5-7B-Instruct.jinja", true },
        { "mistralai-Mistral-Nemo-Instruct-2407.jinja", false },
        { "ibm-granite-granite-3.3-2B-Instruct.jinja", true },
        // Not comparable, the built-in formats differ from the Jinja on purpose or by heuristics:
        // Llama 3.x (no "Cutting Knowledge Date" header), Mistral Small 3.2 (detected as v7 with
        // spaces), DeepSeek R1 (no <think> opener).
    };
    printf("{\n  \"generator\": \"tests/unit/engine/chat/llama-chat-oracle.cpp (llama_chat_apply_template, libllama v0.4.0)\",\n  \"cases\": [\n");
    for (size_t i = 0; i < cases.size(); ++i) {
        std::ifstream f(dir + "/" + cases[i].file);
        std::stringstream ss; ss << f.rdbuf();
        const std::string tmpl = ss.str();
        const auto & msgs = cases[i].system ? with_system : without_system;
        std::vector<char> buf(1 << 16);
        const int32_t n = llama_chat_apply_template(tmpl.c_str(), msgs.data(), msgs.size(), true, buf.data(), buf.size());
        const std::string out = n < 0 ? std::string() : std::string(buf.data(), n);
        printf("    { \"file\": %s, \"system\": %s, \"ok\": %s, \"prompt\": %s }%s\n", json_string(cases[i].file).c_str(),
               cases[i].system ? "true" : "false", n < 0 ? "false" : "true", json_string(out).c_str(),
               i + 1 < cases.size() ? "," : "");
    }
    printf("  ]\n}\n");
    return 0;
}
