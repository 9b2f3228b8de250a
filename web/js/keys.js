// Keyboard shortcuts: j/k selection, Enter open, r trigger, / filter, ? help, Shift+1..9 endpoints, Esc close/leave field.

function inTextField(target) {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable || (tag === 'INPUT' && !['checkbox', 'radio', 'button'].includes(target.type));
}

/** Installs the handler; `app` supplies currentView(), trigger(name), openHelp(), openEndpoint(name, n), open(name). */
export function installKeys(app) {
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      if (inTextField(ev.target)) ev.target.blur();
      for (const d of document.querySelectorAll('dialog[open]')) d.close('cancel');
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (inTextField(ev.target) || document.querySelector('dialog[open]')) return;
    const view = app.currentView();
    // Shift+digit: read the physical key, since the character depends on the layout ("!" on US).
    const digit = /^Digit([1-9])$/.exec(ev.code);
    if (ev.shiftKey && digit) {
      const name = view.selectedName();
      if (name) app.openEndpoint(name, Number(digit[1]));
      ev.preventDefault();
      return;
    }
    switch (ev.key) {
      case 'j':
        view.moveSelection(1);
        break;
      case 'k':
        view.moveSelection(-1);
        break;
      case 'Enter': {
        const name = view.selectedName?.() ?? null;
        if (view.isTable && name) app.open(name);
        else if (!view.isTable && view.selected) app.open(view.selected);
        else return;
        break;
      }
      case 'r': {
        const name = view.selectedName();
        if (name) app.trigger(name);
        break;
      }
      case '/':
        view.focusFilter();
        break;
      case '?':
        app.openHelp();
        break;
      default:
        return;
    }
    ev.preventDefault();
  });
}
