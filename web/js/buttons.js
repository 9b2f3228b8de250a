// Custom UIButtons (text/bool/choice/hidden inputs, confirmation, disabled reasons) and the per-resource enable/disable toggle.

import { putButtonStatus } from './api.js';
import { h, iconSvg } from './dom.js';
import { BROWSER_BUTTON, buttonClickBody, buttonType } from './state.js';

// Input values the user typed last, per button, so a second click starts from them.
const lastValues = new Map();

/** A <button> for a custom UIButton; `toast(message, kind)` reports failures. */
export function renderButton(button, toast) {
  const spec = button.spec || {};
  const name = button.metadata.name;
  const disabled = !!spec.disabled;
  const reason = button.status?.disabledReason || '';
  const kind = buttonType(button) === BROWSER_BUTTON ? 'browser' : 'button';
  const el = h('button.btn', {
    type: 'button',
    'data-action': 'uibutton',
    'data-button': name,
    'data-button-type': kind,
    disabled,
    title: disabled ? reason || 'This button is disabled' : spec.text || name,
  });
  el.innerHTML = buttonIconHtml(button, kind);
  el.append(spec.text || name);
  if (disabled && reason) el.append(h('span.reason', { 'data-disabled-reason': '' }, `(${reason})`));
  el.addEventListener('click', () => clickButton(button, toast));
  return el;
}

function buttonIconHtml(button, kind) {
  const svg = button.spec?.iconSVG;
  if (svg) {
    // Shown as an image so that markup in the SVG can never run in the page.
    const src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
    return `<img class="icon" width="16" height="16" alt="" src="${src}">`;
  }
  return iconSvg(kind);
}

function visibleInputs(button) {
  return (button.spec?.inputs || []).filter((i) => !i.hidden);
}

export async function clickButton(button, toast) {
  if (button.spec?.disabled) return;
  const inputs = visibleInputs(button);
  let values = {};
  if (inputs.length || button.spec?.requiresConfirmation) {
    const result = await askInputs(button, inputs);
    if (!result) return;
    values = result;
  }
  await sendClick(button, values, toast);
}

async function sendClick(button, values, toast) {
  try {
    await putButtonStatus(button.metadata.name, buttonClickBody(button, values));
    toast(`${button.spec?.text || button.metadata.name}: clicked`);
  } catch (e) {
    toast(`${button.spec?.text || button.metadata.name}: ${e.message}`, 'error');
  }
}

/** Opens the shared dialog with the button's inputs; resolves to {name: value} or null if cancelled. */
function askInputs(button, inputs, { title, okText } = {}) {
  const dialog = document.getElementById('button-dialog');
  const body = document.getElementById('button-dialog-body');
  const ok = document.getElementById('button-dialog-ok');
  document.getElementById('button-dialog-title').textContent = title || button.spec?.text || button.metadata.name;
  ok.textContent = okText || (inputs.length ? 'Run' : 'Confirm');
  const remembered = lastValues.get(button.metadata.name) || {};
  const fields = [];
  body.replaceChildren();
  if (!inputs.length) body.append(h('p', {}, 'Are you sure?'));
  for (const input of inputs) {
    const id = `bi-${input.name}`;
    const label = input.label || input.name;
    let control;
    if (input.bool) {
      control = h('input', { type: 'checkbox', id, name: input.name });
      control.checked = remembered[input.name] ?? !!input.bool.defaultValue;
      body.append(h('div.field.check', {}, control, h('label', { for: id }, label)));
    } else if (input.choice) {
      control = h('select', { id, name: input.name }, ...(input.choice.choices || []).map((c) => h('option', { value: c }, c)));
      if (remembered[input.name] !== undefined) control.value = remembered[input.name];
      body.append(h('div.field', {}, h('label', { for: id }, label), control));
    } else {
      control = h('input', { type: 'text', id, name: input.name, placeholder: input.text?.placeholder || '' });
      control.value = remembered[input.name] ?? input.text?.defaultValue ?? '';
      body.append(h('div.field', {}, h('label', { for: id }, label), control));
    }
    fields.push({ input, control });
  }
  return new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener(
      'close',
      () => {
        if (dialog.returnValue !== 'ok') return resolve(null);
        const values = {};
        for (const { input, control } of fields) values[input.name] = input.bool ? control.checked : control.value;
        lastValues.set(button.metadata.name, values);
        resolve(values);
      },
      { once: true },
    );
    dialog.showModal();
    (fields[0]?.control || ok).focus();
  });
}

/**
 * The enable/disable switch for a resource, driven by its DisableToggle button. `enabled` is the
 * resource's current state; a click sends action "off" (after confirmation) or "on".
 */
export function renderDisableToggle(toggle, enabled, toast) {
  const el = h('button.switch', {
    type: 'button',
    role: 'switch',
    'data-action': 'toggle-enable',
    'aria-checked': enabled ? 'true' : 'false',
    'aria-label': enabled ? 'Disable resource' : 'Enable resource',
    title: enabled ? 'Enabled: click to disable' : 'Disabled: click to enable',
    disabled: !toggle || !!toggle.spec?.disabled,
  });
  el.addEventListener('click', (ev) => {
    ev.stopPropagation();
    const current = el.getAttribute('aria-checked') === 'true';
    sendToggle(el._toggle, current, toast);
  });
  el._toggle = toggle;
  return el;
}

export function updateDisableToggle(el, toggle, enabled) {
  el._toggle = toggle;
  const want = enabled ? 'true' : 'false';
  if (el.getAttribute('aria-checked') !== want) {
    el.setAttribute('aria-checked', want);
    el.setAttribute('aria-label', enabled ? 'Disable resource' : 'Enable resource');
    el.title = enabled ? 'Enabled: click to disable' : 'Disabled: click to enable';
  }
  el.disabled = !toggle || !!toggle.spec?.disabled;
}

async function sendToggle(toggle, enabled, toast) {
  if (!toggle) return;
  const resource = toggle.spec?.location?.componentID || toggle.metadata.name.replace(/-disable$/, '');
  if (enabled) {
    const ok = await askInputs(toggle, [], { title: `Disable ${resource}?`, okText: 'Disable' });
    if (!ok) return;
  }
  try {
    await putButtonStatus(toggle.metadata.name, buttonClickBody(toggle, { action: enabled ? 'off' : 'on' }));
  } catch (e) {
    toast(`${resource}: ${e.message}`, 'error');
  }
}
