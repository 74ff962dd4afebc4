-- The agents conductor knows without configuration: their commands, how each takes its
-- first prompt, how to resume, and the screen patterns that tell its state.
-- Not here: the user's `agents` option over these (agent/catalog.lua).

--- Built-in agents. `prompt`: how the first prompt is given: "arg" (last argument), a
--- flag such as "-i" (flag then prompt), "send" (typed in once the agent shows its
--- input: it reads its terminal key by key and its screen has settled; after 10 s at the
--- latest), or "none" (the default: the agent takes no prompt, and conductor never types
--- task text, review comments or check output into it — a shell would run them). Each
--- CLI's own first-prompt argument is used where it has one (opencode drops what is
--- typed in its first seconds). Patterns tell the status detector what the agent's
--- screen shows while it works or waits for an answer (menus with a selected numbered
--- choice, "> 1. …", count as waiting by themselves).
return {
  codex = {
    -- Without --no-daemon codex leaves a shared server running after its TUI exits,
    -- out of reach of the workspace's process group (archive could not stop it).
    cmd = { "codex", "--no-daemon" },
    prompt = "arg",
    install = "npm install -g @openai/codex",
    trust = "codex",
    resume = { "codex", "--no-daemon", "resume", "--last" },
    working = { "esc to interrupt" },
    waiting = { "Allow command?", "(y/n)", "Press enter to continue", "Press enter to confirm" },
  },
  claude = {
    cmd = { "claude" },
    prompt = "arg",
    install = "npm install -g @anthropic-ai/claude-code",
    trust = "claude",
    resume = { "claude", "--continue" },
    working = { "esc to interrupt" },
    waiting = { "Do you want to proceed?", "Do you want to make this edit", "Enter to confirm" },
    title_idle = { "✳" },
    title_working = { "⠂", "⠐", "✶", "✻", "✽", "✢" },
  },
  gemini = {
    cmd = { "gemini" },
    prompt = "-i",
    install = "npm install -g @google/gemini-cli",
    trust = "gemini",
    resume = { "gemini", "--resume", "latest" },
    working = { "esc to cancel" },
    waiting = {
      "Allow execution",
      "Apply this change?",
      "Do you trust",
      "How would you like to authenticate",
    },
  },
  opencode = {
    cmd = { "opencode" },
    prompt = "--prompt",
    install = "npm install -g opencode-ai",
    resume = { "opencode", "--continue" },
    working = { "esc interrupt", "esc to interrupt" },
  },
  -- The fallback when no AI CLI is on PATH: the user's own shell. It is handed no prompt
  -- (a shell would run the task as a command); the task is shown above its prompt.
  -- No screen patterns tell a shell's states: quiet for a moment means idle at its prompt.
  shell = { prompt = "none", idle_after_ms = 500 },
}
