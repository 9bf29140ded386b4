// Golden token sequences from llama.cpp's own sampler chain, for sampler.test.ts.
//
// It links the libllama that node-llama-cpp 3.21.1 ships (llama.cpp release v0.4.0)
// and needs no model: the samplers run on a llama_token_data_array built from
// logits given by a formula that the test evaluates the same way in float32.
// Regenerate (from the repository root) with:
//   git clone -q node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llcpp
//   B=node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
//   g++ -std=c++17 -O1 -I/tmp/llcpp/include -I/tmp/llcpp/ggml/include \
//     tests/unit/engine/sampling/llama-sampler-oracle.cpp -o /tmp/llama-sampler-oracle \
//     -L$B -l:libllama.v0.4.0.so -Wl,-rpath,$PWD/$B
//   /tmp/llama-sampler-oracle > tests/unit/engine/sampling/llama-sampler.golden.json
#include <cstdio>
#include <string>
#include <vector>

#include "llama.h"

struct Case {
    const char * name;
    int n_vocab;
    double span, offset;  // logit of token i: (float)(((i * 7919) % n) * (span / n) - offset)
    float temp;
    int top_k;
    float top_p, min_p;
    int last_n;           // llama.cpp's penalty window (the test's -1 becomes "longer than the history")
    float repeat, freq, present;
    uint32_t seed;
    std::vector<int> prompt;  // history accepted before the first draw
    int draws;
};

static float logit_of(const Case & c, int i) {
    const long long k = ((long long) i * 7919) % c.n_vocab;
    return (float) ((double) k * (c.span / (double) c.n_vocab) - c.offset);
}

int main() {
    const std::vector<Case> cases = {
        { "defaults-32",            32, 12.0,  6.0, 0.8f, 40, 0.95f, 0.05f,   64, 1.0f, 0.0f, 0.0f,   42, {}, 300 },
        { "pure-softmax-8",          8,  4.0,  2.0, 1.0f,  0, 1.0f,  0.0f,    64, 1.0f, 0.0f, 0.0f, 1234, {}, 300 },
        { "top-k-3-temp-1.5",       32, 12.0,  6.0, 1.5f,  3, 1.0f,  0.0f,    64, 1.0f, 0.0f, 0.0f,    7, {}, 200 },
        { "top-p-0.9-unsorted-5000", 5000, 30.0, 20.0, 1.0f, 0, 0.9f, 0.0f,   64, 1.0f, 0.0f, 0.0f,   99, {}, 100 },
        { "min-p-0.2-temp-0.7",     32, 12.0,  6.0, 0.7f,  0, 1.0f,  0.2f,    64, 1.0f, 0.0f, 0.0f,    5, {}, 200 },
        { "penalties-last-8",       32, 12.0,  6.0, 0.8f, 40, 0.95f, 0.05f,    8, 1.3f, 0.2f, 0.5f,    3,
          { 21, 29, 21, 5, 13, 29, 29, 0 }, 100 },
        { "penalties-whole-greedy", 32,  8.3,  3.1, 0.0f, 40, 0.95f, 0.05f, 4096, 1.37f, 0.113f, 0.29f, 11,
          { 1, 2, 3 }, 60 },
        { "defaults-150000",    150000, 30.0, 20.0, 0.8f, 40, 0.95f, 0.05f,   64, 1.1f, 0.0f, 0.0f, 2024,
          { 100, 149999, 77777 }, 50 },
        { "no-top-k-150000",    150000, 30.0, 20.0, 1.2f,  0, 0.95f, 0.02f,   64, 1.0f, 0.0f, 0.0f,  808, {}, 30 },
    };

    printf("{\n  \"generator\": \"tests/unit/engine/sampling/llama-sampler-oracle.cpp (libllama v0.4.0 from node-llama-cpp 3.21.1)\",\n  \"cases\": [\n");
    for (size_t ci = 0; ci < cases.size(); ++ci) {
        const Case & c = cases[ci];
        llama_sampler * chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
        // common_sampler_init's default order: penalties, top_k, top_p, min_p, temperature, then dist
        llama_sampler_chain_add(chain, llama_sampler_init_penalties(c.n_vocab, c.last_n, c.repeat, c.freq, c.present));
        llama_sampler_chain_add(chain, llama_sampler_init_top_k(c.top_k));
        llama_sampler_chain_add(chain, llama_sampler_init_top_p(c.top_p, 0));
        llama_sampler_chain_add(chain, llama_sampler_init_min_p(c.min_p, 0));
        llama_sampler_chain_add(chain, llama_sampler_init_temp(c.temp));
        llama_sampler_chain_add(chain, llama_sampler_init_dist(c.seed));
        for (int t : c.prompt) llama_sampler_accept(chain, t);

        std::vector<llama_token_data> data(c.n_vocab);
        std::string tokens;
        for (int d = 0; d < c.draws; ++d) {
            for (int i = 0; i < c.n_vocab; ++i) data[i] = { i, logit_of(c, i), 0.0f };
            llama_token_data_array arr = { data.data(), data.size(), -1, false };
            llama_sampler_apply(chain, &arr);
            const llama_token tok = arr.data[arr.selected].id;
            llama_sampler_accept(chain, tok);
            tokens += (d ? "," : "") + std::to_string(tok);
        }
        std::string prompt;
        for (size_t i = 0; i < c.prompt.size(); ++i) prompt += (i ? "," : "") + std::to_string(c.prompt[i]);
        printf("    { \"name\": \"%s\", \"nVocab\": %d, \"span\": %g, \"offset\": %g,\n"
               "      \"params\": { \"temperature\": %g, \"topK\": %d, \"topP\": %g, \"minP\": %g, \"penaltyLastN\": %d,"
               " \"repeatPenalty\": %g, \"frequencyPenalty\": %g, \"presencePenalty\": %g, \"seed\": %u },\n"
               "      \"prompt\": [%s],\n      \"tokens\": [%s] }%s\n",
               c.name, c.n_vocab, c.span, c.offset, c.temp, c.top_k, c.top_p, c.min_p, c.last_n == 4096 ? -1 : c.last_n,
               c.repeat, c.freq, c.present, c.seed, prompt.c_str(), tokens.c_str(), ci + 1 < cases.size() ? "," : "");
        llama_sampler_free(chain);
    }
    printf("  ]\n}\n");
    return 0;
}
