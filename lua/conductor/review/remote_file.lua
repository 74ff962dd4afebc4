-- The live side of a review of a workspace on another machine (`ws.host`): its worktree
-- is there, so its files are read and written through that host's engine (`file_read`,
-- `file_write`), never through a path here. Each file is a buffer named
-- `conductor://<host>/<ws name>/<path>` with 'buftype' acwrite: `:w` writes the file on
-- the host; a write that fails says so and leaves the buffer modified.
--
-- Not here: which file is shown, and the base side (review/diff.lua).

local M = {}

local api = vim.api
local engine = require("conductor.engine")
local notify = require("conductor.notify")

local group = api.nvim_create_augroup("conductor_remote_file", { clear = true })

---@class conductor.RemoteFile
---@field workspace string  the workspace id ("HOST:<id>")
---@field label string      "HOST:<ws name>", for messages
---@field path string       path in the worktree

--- The name of the buffer of `path` in the worktree of `ws` (on `ws.host`).
---@param ws conductor.Workspace
---@param path string
---@return string
function M.name(ws, path)
  return M.prefix(ws) .. path
end

--- What the names of the buffers of `ws`'s files start with.
---@param ws conductor.Workspace
---@return string
function M.prefix(ws)
  return ("conductor://%s/%s/"):format(ws.host, ws.name)
end

---@param name string
---@return integer?
local function find_buf(name)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_valid(buf) and api.nvim_buf_get_name(buf) == name then
      return buf
    end
  end
end

--- The file a buffer of this module stands for, or nil.
---@param buf integer
---@return conductor.RemoteFile?
function M.of_buf(buf)
  local ok, file = pcall(api.nvim_buf_get_var, buf, "conductor_remote_file")
  return ok and type(file) == "table" and file or nil
end

-- Lines of a file's text (as Neovim reads a file: CRLF endings when every line has one,
-- no last line for the final newline).
---@param text string
---@return string[] lines, boolean dos, boolean eol
local function split(text)
  if text == "" then
    return { "" }, false, true
  end
  local lines = vim.split(text, "\n", { plain = true })
  local eol = lines[#lines] == ""
  if eol then
    lines[#lines] = nil
  end
  local dos = true
  for _, l in ipairs(lines) do
    if l:sub(-1) ~= "\r" then
      dos = false
      break
    end
  end
  if dos then
    for i, l in ipairs(lines) do
      lines[i] = l:sub(1, -2)
    end
  end
  return lines, dos, eol
end

-- The text `:w` writes: the lines with the buffer's endings, a final newline unless the
-- file had none (and 'fixeol' is off); an empty buffer is an empty file.
---@param buf integer
---@return string
local function join(buf)
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  if #lines == 1 and lines[1] == "" then
    return ""
  end
  local nl = vim.bo[buf].fileformat == "dos" and "\r\n" or "\n"
  local text = table.concat(lines, nl)
  if vim.bo[buf].eol or vim.bo[buf].fixeol then
    text = text .. nl
  end
  return text
end

-- Puts `text` into `buf` as if read from disk: not undoable, not modified.
---@param buf integer
---@param text string
local function fill(buf, text)
  local lines, dos, eol = split(text)
  local levels = vim.bo[buf].undolevels
  vim.bo[buf].undolevels = -1
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].undolevels = levels
  vim.bo[buf].fileformat = dos and "dos" or "unix"
  vim.bo[buf].eol = eol
  vim.bo[buf].modified = false
end

--- Reads the file from the host: its text, whether it is binary; nil when it is not
--- there.
---@param file conductor.RemoteFile
---@return { text: string, binary: boolean }?
local function read(file)
  local got = engine.call("file_read", { workspace = file.workspace, path = file.path })
  if type(got) ~= "table" then
    return nil
  end
  return { text = got.text or "", binary = got.binary == true }
end

---@param buf integer
local function write(buf)
  local file = M.of_buf(buf)
  if not file then
    return
  end
  local where = file.label .. "/" .. file.path
  local ok, err = pcall(engine.call, "file_write", {
    workspace = file.workspace,
    path = file.path,
    text = join(buf),
  })
  if not ok then
    -- Still modified: nothing is lost, and `:q` keeps asking.
    return notify.error(
      ("could not write %s: %s (the buffer keeps your changes; :w again)"):format(
        where,
        notify.clean(err)
      )
    )
  end
  vim.bo[buf].modified = false
  api.nvim_echo({ { ('"%s" written on %s'):format(file.path, file.label) } }, false, {})
  -- What a write to disk fires, for the review's refresh and the user's own autocmds.
  api.nvim_exec_autocmds("BufWritePost", { buffer = buf, modeline = false })
end

--- The buffer of `path` in the worktree of `ws` (on `ws.host`), read from the host when
--- it is new; nil and "binary" or "missing" when there is no text to show.
---@param ws conductor.Workspace
---@param path string
---@return integer? buf, ("binary"|"missing")? why
function M.open(ws, path)
  local name = M.name(ws, path)
  local buf = find_buf(name)
  if buf and api.nvim_buf_is_loaded(buf) then
    M.reload(buf)
    return buf
  end
  ---@type conductor.RemoteFile
  local file = { workspace = ws.id, label = ws.host .. ":" .. ws.name, path = path }
  local got = read(file)
  if not got then
    return nil, "missing"
  elseif got.binary then
    return nil, "binary"
  end
  buf = buf or api.nvim_create_buf(true, false)
  api.nvim_buf_set_name(buf, name)
  vim.bo[buf].buftype = "acwrite"
  vim.bo[buf].swapfile = false
  api.nvim_buf_set_var(buf, "conductor_remote_file", file)
  fill(buf, got.text)
  api.nvim_clear_autocmds({ group = group, buffer = buf })
  api.nvim_create_autocmd("BufWriteCmd", {
    group = group,
    buffer = buf,
    callback = function(ev)
      write(ev.buf)
    end,
  })
  -- `:edit` / `:edit!` read it from the host again (there is no such file here).
  api.nvim_create_autocmd("BufReadCmd", {
    group = group,
    buffer = buf,
    callback = function(ev)
      local this = M.of_buf(ev.buf)
      local ok, again = pcall(read, this)
      if not ok then
        return notify.error(("could not read %s: %s"):format(this.label .. "/" .. this.path, again))
      end
      fill(ev.buf, again and not again.binary and again.text or "")
    end,
  })
  local ok, ft = pcall(vim.filetype.match, { filename = path, buf = buf })
  if ok and ft then
    vim.bo[buf].filetype = ft
  end
  return buf
end

--- The modified buffers of `ws`'s files (none for a workspace here).
---@param ws conductor.Workspace
---@return integer[]
function M.modified_buffers(ws)
  local out = {}
  if not ws.host then
    return out
  end
  local prefix = M.prefix(ws)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if vim.bo[buf].modified and vim.startswith(api.nvim_buf_get_name(buf), prefix) then
      out[#out + 1] = buf
    end
  end
  return out
end

--- Reads every unmodified buffer of `ws`'s files from the host again (after a change
--- made there: a revert to a checkpoint, a restore).
---@param ws conductor.Workspace
function M.reload_all(ws)
  if not ws.host then
    return
  end
  local prefix = M.prefix(ws)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(buf) and vim.startswith(api.nvim_buf_get_name(buf), prefix) then
      pcall(M.reload, buf)
    end
  end
end

--- Reads the file of `buf` from the host again, unless the buffer has changes of its own
--- (as `:checktime` leaves a modified buffer alone). Returns false when the file is no
--- longer there.
---@param buf integer
---@return boolean
function M.reload(buf)
  local file = M.of_buf(buf)
  if not file or vim.bo[buf].modified then
    return true
  end
  local got = read(file)
  if not got or got.binary then
    return false
  end
  if join(buf) ~= got.text then
    fill(buf, got.text)
  end
  return true
end

return M
