-- `:Telescope conductor`: the workspace picker in telescope. Same rows and
-- actions as `:Conductor` (lua/conductor/picker.lua), built only with
-- telescope's public extension API.
--
--   <CR>   open the workspace (restore an archived one)
--   <C-a>  archive          <C-r>  restore          <C-d>  delete
--   <C-t>  show / hide archived workspaces
--
-- Options (`:Telescope conductor archived=true`, or in telescope's setup
-- under `extensions.conductor`): `archived` (start with archived workspaces
-- shown, default false), `preview_lines` (at most this many last lines of each
-- agent's screen in the preview, default 30; fewer when the preview window is
-- smaller, so the bottom of the screen — the agent's input — always shows).

local has_telescope, telescope = pcall(require, "telescope")
if not has_telescope then
  error("conductor's telescope extension needs telescope.nvim (nvim-telescope/telescope.nvim)")
end

-- telescope.nvim is not installed where the type check runs (.ci/run).
---@diagnostic disable: unresolved-require
local action_state = require("telescope.actions.state")
local actions = require("telescope.actions")
local conf = require("telescope.config").values
local entry_display = require("telescope.pickers.entry_display")
local finders = require("telescope.finders")
local highlights = require("conductor.highlights")
local notify = require("conductor.notify")
local picker = require("conductor.picker")
local pickers = require("telescope.pickers")
local previewers = require("telescope.previewers")
local summary = require("conductor.summary")

local defaults = { archived = false, preview_lines = 30 }
local ext_config = vim.deepcopy(defaults)

-- Which state's highlight colours the agents cell: the one that most needs
-- the user's eyes.
local URGENCY = { waiting = 5, working = 4, starting = 3, idle = 2, exited = 1 }

---@param list conductor.AgentEntry[]
---@return string?
local function agents_group(list)
  local top, rank = nil, 0
  for _, agent in ipairs(list) do
    local r = URGENCY[agent.state] or 0
    if r > rank then
      top, rank = agent.state, r
    end
  end
  return highlights.group(top)
end

-- Workspaces here and on the configured hosts (|conductor-hosts|). When the picker opens
-- (`opening`) every host is asked and those that could not be reached are said once; a
-- refresh asks only the hosts already connected, never waiting on ssh.
---@param show_archived boolean
---@param opening boolean?
---@return conductor.Workspace[]
local function workspaces(show_archived, opening)
  local out = {}
  local all, unreachable = picker.items({ connected_only = not opening })
  if opening then
    picker.warn_unreachable(unreachable)
  end
  for _, ws in ipairs(all) do
    if show_archived or ws.state ~= "archived" then
      out[#out + 1] = ws
    end
  end
  return out
end

---@param list conductor.Workspace[]
local function make_finder(list)
  local cells, width = {}, {}
  for i, ws in ipairs(list) do
    cells[ws] = picker.cells(ws)
    cells[ws].agent_list = summary.agents(ws.id)
    for _, key in ipairs(picker.columns) do
      width[key] = math.max(width[key] or 1, vim.fn.strdisplaywidth(cells[ws][key]))
    end
    cells[ws].index = i
    -- The last column: state, then what only some rows have (diff stat, checks, PR, group).
    local extra = vim.tbl_filter(function(t)
      return t ~= nil and t ~= ""
    end, { cells[ws].stat, cells[ws].checks, cells[ws].pr, cells[ws].group })
    cells[ws].tail = table.concat(vim.list_extend({ cells[ws].state }, extra), "  ")
  end
  -- What the user scans for first comes first: name, agents, state. The results window
  -- is about a third of the screen beside the preview; what does not fit is cut from
  -- the right, so the repository and port go last.
  local tail_width = 1
  for _, c in pairs(cells) do
    tail_width = math.max(tail_width, vim.fn.strdisplaywidth(c.tail))
  end
  local displayer = entry_display.create({
    separator = "  ",
    items = {
      { width = width.name },
      { width = width.agents },
      { width = tail_width },
      { width = width.branch },
      { width = width.repo },
      { remaining = true },
    },
  })
  return finders.new_table({
    results = list,
    entry_maker = function(ws)
      local c = cells[ws]
      local archived = ws.state == "archived"
      local dim = archived and highlights.group("archived") or nil
      return {
        value = ws,
        ordinal = table.concat({ c.name, c.repo, c.branch, c.agents, c.state }, " "),
        display = function()
          return displayer({
            { c.name, dim },
            { c.agents, agents_group(c.agent_list) },
            { c.tail, dim },
            { c.branch, dim },
            { c.repo, dim or "Comment" },
            { c.port, dim or "Comment" },
          })
        end,
      }
    end,
  })
end

-- The last non-blank lines of a buffer (an agent's terminal screen).
---@param buf integer
---@param n integer
---@return string[]
local function tail(buf, n)
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    return {}
  end
  local count = vim.api.nvim_buf_line_count(buf)
  local lines = vim.api.nvim_buf_get_lines(buf, math.max(0, count - n - 200), count, false)
  while #lines > 0 and vim.trim(lines[#lines]) == "" do
    lines[#lines] = nil
  end
  return vim.list_slice(lines, math.max(1, #lines - n + 1), #lines)
end

---@param ws conductor.Workspace
---@param height integer? lines the preview window shows
---@return string[]
local function details(ws, height)
  -- A host's paths read "big:/path": they are paths there, not here.
  local there = ws.host and (ws.host .. ":") or ""
  local lines = {
    ("%s  (%s)"):format(picker.cells(ws).name, summary.state_text(ws)),
    "",
    "repository  " .. there .. (ws.repo_root or ""),
    ("branch      %s  (from %s at %s)"):format(
      ws.branch or "",
      ws.base_branch or "?",
      (ws.base_commit or ""):sub(1, 12)
    ),
  }
  if ws.state ~= "archived" then
    lines[#lines + 1] = "worktree    " .. there .. (ws.path or "")
  elseif ws.snapshot_ref then
    lines[#lines + 1] = "snapshot    " .. ws.snapshot_ref
  end
  if ws.port then
    lines[#lines + 1] = ("ports       %d-%d"):format(ws.port, ws.port + 9)
  end
  if ws.task then
    lines[#lines + 1] = "task        " .. ws.task:gsub("\n", " ")
  end
  lines[#lines + 1] = "setup       " .. (ws.setup or "none")
  -- The diff stat from the engine's last change list (memory only, never git).
  local engine = package.loaded["conductor.engine"]
  local okc, changes = pcall(function()
    return engine and ws.state == "active" and engine.call("changes_cached", { workspace = ws.id })
      or nil
  end)
  if okc and type(changes) == "table" then
    lines[#lines + 1] = ("changes     %d file(s), +%d -%d"):format(
      #(changes.files or {}),
      changes.added or 0,
      changes.removed or 0
    )
    for i, f in ipairs(changes.files or {}) do
      if i > 10 then
        lines[#lines + 1] = ("            … %d more"):format(#changes.files - 10)
        break
      end
      lines[#lines + 1] = ("            %s %s %s"):format(
        f.status,
        f.path,
        f.binary and "(binary)" or ("+%d -%d"):format(f.added, f.removed)
      )
    end
  end
  if ws.checks then
    lines[#lines + 1] = "checks      " .. (ws.checks.ok and "passed" or "failed")
  end
  if ws.pr_url then
    lines[#lines + 1] = "pull req.   " .. ws.pr_url
  end
  if ws.created_at then
    lines[#lines + 1] = "created     " .. os.date("%Y-%m-%d %H:%M", ws.created_at)
  end
  lines[#lines + 1] = "log         " .. there .. (ws.log or "")
  local agents = summary.agents(ws.id)
  if #agents == 0 then
    lines[#lines + 1] = "agents      none"
  end
  -- Each agent's screen gets an equal share of what the window has left (two lines go
  -- to its heading), so the last one's bottom — its input — is not past the window.
  local room = height and math.floor((height - #lines) / math.max(1, #agents)) - 2 or math.huge
  for _, agent in ipairs(agents) do
    lines[#lines + 1] = ""
    lines[#lines + 1] = ("── %s ──"):format(summary.agent_text(agent))
    local n = math.min(ext_config.preview_lines, room)
    if n > 0 then
      vim.list_extend(lines, tail(agent.buf, n))
    end
  end
  return lines
end

local previewer = previewers.new_buffer_previewer({
  title = "Workspace",
  define_preview = function(self, entry)
    local winid = self.state.winid
    local height = winid and vim.api.nvim_win_is_valid(winid) and vim.api.nvim_win_get_height(winid)
      or nil
    local ok, lines = pcall(details, entry.value, height)
    if not ok then
      lines = { "conductor: " .. tostring(lines) }
    end
    vim.api.nvim_buf_set_lines(self.state.bufnr, 0, -1, false, lines)
  end,
})

-- Closes the picker, then runs one of the workspace's actions (the same
-- actions as :Conductor's), or says why it does not apply.
---@param prompt_bufnr integer
---@param ids string[] action ids, the first available one runs
local function run_action(prompt_bufnr, ids)
  local entry = action_state.get_selected_entry()
  actions.close(prompt_bufnr)
  if not entry then
    return
  end
  local ws = entry.value
  local available = {}
  for _, a in ipairs(picker.actions(ws)) do
    available[a.id] = a
  end
  for _, id in ipairs(ids) do
    if available[id] then
      return notify.guard(available[id].run)()
    end
  end
  notify.error(("cannot %s %s: it is %s"):format(ids[1], ws.name, ws.state))
end

---@param opts table?
local function conductor(opts)
  opts = vim.tbl_extend("force", ext_config, opts or {})
  local show_archived = opts.archived == true or opts.archived == "true"
  local ok, list = pcall(workspaces, show_archived, true)
  if not ok then
    return notify.error(list)
  end
  pickers
    .new(opts, {
      prompt_title = "Conductor workspaces",
      finder = make_finder(list),
      sorter = conf.generic_sorter(opts),
      previewer = previewer,
      attach_mappings = function(prompt_bufnr, map)
        actions.select_default:replace(function()
          run_action(prompt_bufnr, { "open", "restore" })
        end)
        local function both(lhs, fn, desc)
          map({ "i", "n" }, lhs, fn, { desc = desc })
        end
        both("<C-a>", function()
          run_action(prompt_bufnr, { "archive" })
        end, "conductor: archive")
        both("<C-r>", function()
          run_action(prompt_bufnr, { "restore" })
        end, "conductor: restore")
        both("<C-d>", function()
          run_action(prompt_bufnr, { "delete" })
        end, "conductor: delete")
        both("<C-t>", function()
          show_archived = not show_archived
          local current = action_state.get_current_picker(prompt_bufnr)
          local rok, fresh = pcall(workspaces, show_archived)
          if rok then
            current:refresh(make_finder(fresh), { reset_prompt = false })
          end
        end, "conductor: show/hide archived")
        -- Refresh in place while the picker is open: agents change state, change lists
        -- are recomputed, workspaces come and go. Rows come from memory and the state
        -- file, so a refresh never waits on git.
        local group =
          vim.api.nvim_create_augroup("conductor_telescope_" .. prompt_bufnr, { clear = true })
        local pending = false
        local function refresh()
          if pending then
            return
          end
          pending = true
          vim.defer_fn(function()
            pending = false
            if not vim.api.nvim_buf_is_valid(prompt_bufnr) then
              return
            end
            local current = action_state.get_current_picker(prompt_bufnr)
            local rok, fresh = pcall(workspaces, show_archived)
            if current and rok then
              current:refresh(make_finder(fresh), { reset_prompt = false })
            end
          end, 50)
        end
        vim.api.nvim_create_autocmd("User", {
          group = group,
          pattern = {
            "ConductorAgentState",
            "ConductorWorkspace*",
            "ConductorChecksFinished",
            "ConductorPR",
          },
          callback = refresh,
        })
        vim.api.nvim_create_autocmd({ "BufWipeout", "BufDelete" }, {
          group = group,
          buffer = prompt_bufnr,
          callback = function()
            pcall(vim.api.nvim_del_augroup_by_id, group)
          end,
        })
        return true
      end,
    })
    :find()
end

return telescope.register_extension({
  setup = function(user)
    ext_config = vim.tbl_extend("force", vim.deepcopy(defaults), user or {})
  end,
  exports = { conductor = conductor },
})
