// Colours and fonts come from JupyterLab's CSS variables, so light and dark themes both work;
// the fallbacks apply outside JupyterLab (an exported page, VS Code).
export const BASE_CSS = `
.qw-root { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #212121); background: var(--jp-layout-color1, #fff); padding: 6px; box-sizing: border-box; }
.qw-root *, .qw-root *::before, .qw-root *::after { box-sizing: border-box; }
.qw-root button { font: inherit; color: var(--jp-ui-font-color1, #212121); background: var(--jp-layout-color2, #eee);
  border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 3px; padding: 2px 10px; cursor: pointer; }
.qw-root button.qw-primary { background: var(--jp-brand-color1, #1976d2); color: var(--jp-ui-inverse-font-color1, #fff); border-color: transparent; }
.qw-root button:disabled { opacity: .5; cursor: default; }
.qw-root button:focus-visible, .qw-root input:focus-visible, .qw-root select:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.qw-root input, .qw-root select, .qw-root textarea { font: inherit; color: var(--jp-ui-font-color1, #212121);
  background: var(--jp-layout-color1, #fff); border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 2px; padding: 1px 4px; }
.qw-root .qw-head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.qw-root .qw-grow { flex: 1; }
.qw-muted { color: var(--jp-ui-font-color2, #616161); }
.qw-error { color: var(--jp-error-color1, #d32f2f); }
.qw-badge { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: var(--jp-ui-font-size0, 11px);
  background: var(--jp-layout-color3, #bdbdbd); color: var(--jp-ui-font-color0, #000); }
.qw-badge[data-state="completed"], .qw-badge[data-state="Done"] { background: var(--jp-success-color1, #388e3c); color: #fff; }
.qw-badge[data-state="failed"], .qw-badge[data-state="Error"] { background: var(--jp-error-color1, #d32f2f); color: #fff; }
.qw-badge[data-state="processing"], .qw-badge[data-state="Running"] { background: var(--jp-brand-color1, #1976d2); color: #fff; }
.qw-badge[data-state^="cancel"], .qw-badge[data-state="Stopped"] { background: var(--jp-warn-color1, #f57c00); color: #fff; }
`;
