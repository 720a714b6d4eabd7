/* Jinja chat templates in the common forms of each format llmfs renders,
 * written here after the templates the model families ship (Qwen's
 * chatml, Llama 2 chat, Llama 3, Gemma 3, Phi-3.5, Mistral v7), for
 * llmfs-mkmodel --chat-template NAME and for tests/test_chat, which
 * checks llmfs's rendering against each one rendered by a real Jinja
 * implementation.  bos and eos are the token texts of the family's
 * vocabulary (what bos_token and eos_token stand for). */
#ifndef LLMFS_CHAT_TEMPLATES_H
#define LLMFS_CHAT_TEMPLATES_H

typedef struct {
    const char *name;       /* --chat-template NAME */
    const char *bos, *eos;
    const char *jinja;
} chat_template_src;

static const chat_template_src chat_templates[] = {
    {"chatml", "", "<|im_end|>",
     "{%- for message in messages %}"
     "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
     "{%- endfor %}"
     "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"},
    {"llama2", "<s>", "</s>",
     "{%- if messages[0]['role'] == 'system' %}"
     "{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}"
     "{%- else %}{%- set system_message = '' %}{%- set loop_messages = messages %}{%- endif %}"
     "{%- for message in loop_messages %}"
     "{%- if message['role'] == 'user' %}"
     "{%- if loop.first and system_message != '' %}"
     "{%- set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
     "{%- else %}{%- set content = message['content'] %}{%- endif %}"
     "{{- bos_token + '[INST] ' + content + ' [/INST]' }}"
     "{%- elif message['role'] == 'assistant' %}{{- message['content'] + eos_token }}"
     "{%- endif %}"
     "{%- endfor %}"},
    {"llama3", "<|begin_of_text|>", "<|eot_id|>",
     "{%- for message in messages %}"
     "{%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
     " + message['content'] | trim + '<|eot_id|>' %}"
     "{%- if loop.index0 == 0 %}{%- set content = bos_token + content %}{%- endif %}"
     "{{- content }}"
     "{%- endfor %}"
     "{%- if add_generation_prompt %}"
     "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"},
    {"gemma", "<bos>", "<eos>",
     "{{- bos_token }}"
     "{%- if messages[0]['role'] == 'system' %}"
     "{%- set first_user_prefix = messages[0]['content'] | trim + '\\n\\n' %}"
     "{%- set loop_messages = messages[1:] %}"
     "{%- else %}{%- set first_user_prefix = '' %}{%- set loop_messages = messages %}{%- endif %}"
     "{%- for message in loop_messages %}"
     "{%- if message['role'] == 'assistant' %}{%- set role = 'model' %}"
     "{%- else %}{%- set role = message['role'] %}{%- endif %}"
     "{{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
     "{{- message['content'] | trim }}{{- '<end_of_turn>\\n' }}"
     "{%- endfor %}"
     "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}"},
    {"phi3", "<s>", "<|endoftext|>",
     "{%- for message in messages %}"
     "{%- if message['role'] == 'system' and message['content'] %}"
     "{{- '<|system|>\\n' + message['content'] + '<|end|>\\n' }}"
     "{%- elif message['role'] == 'user' %}{{- '<|user|>\\n' + message['content'] + '<|end|>\\n' }}"
     "{%- elif message['role'] == 'assistant' %}"
     "{{- '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}"
     "{%- endif %}"
     "{%- endfor %}"
     "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- else %}{{- eos_token }}{%- endif %}"},
    {"mistral", "<s>", "</s>",
     "{{- bos_token }}"
     "{%- for message in messages %}"
     "{%- if message['role'] == 'system' %}"
     "{{- '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}"
     "{%- elif message['role'] == 'user' %}{{- '[INST] ' + message['content'] + '[/INST]' }}"
     "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token }}"
     "{%- endif %}"
     "{%- endfor %}"},
};

#define N_CHAT_TEMPLATES (sizeof chat_templates / sizeof chat_templates[0])
#endif
