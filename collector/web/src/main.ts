/**
 * The dayi dashboard: a page of the collector (served at `/`), calling its API with the key the
 * user signs in with. Routes live in the hash (`#/instruments/ID`), so the collector serves one
 * page and a reload keeps the view.
 */
import { ApiError, apiKey, checkKey, setApiKey, whenUnauthorized } from './api.ts';
import { h, replace } from './dom.ts';
import { currentLang, type Key, setLang, t } from './i18n.ts';
import { alerts, errorBox, feedback, idle, instrument, instruments, overview, reports } from './views.ts';

const root = document.getElementById('app')!;
const NAV: [string, Key][] = [
  ['#/', 'nav.overview'],
  ['#/instruments', 'nav.instruments'],
  ['#/alerts', 'nav.alerts'],
  ['#/idle', 'nav.idle'],
  ['#/reports', 'nav.reports'],
  ['#/feedback', 'nav.feedback'],
];

function switchLang(): void {
  setLang(currentLang() === 'en' ? 'zh-CN' : 'en');
  render();
}

function header(signedIn: boolean): HTMLElement {
  const here = location.hash.split('?')[0] || '#/';
  return h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/' }, t('brand')),
    signedIn
      ? h(
          'nav',
          {},
          NAV.map(([href, key]) => {
            const current = href === '#/' ? here === '#/' : here.startsWith(href);
            return h('a', { href, 'aria-current': current ? 'page' : null }, t(key));
          }),
        )
      : null,
    h(
      'div',
      { class: 'tools' },
      h(
        'button',
        { type: 'button', class: 'lang', onclick: switchLang, lang: currentLang() === 'en' ? 'zh-CN' : 'en' },
        t('lang.switch'),
      ),
      signedIn
        ? h(
            'button',
            {
              type: 'button',
              class: 'signout',
              onclick: () => {
                setApiKey(null);
                render();
              },
            },
            t('signOut'),
          )
        : null,
    ),
  );
}

function signIn(message?: string): void {
  const key = h('input', {
    type: 'password',
    name: 'apikey',
    autocomplete: 'off',
    required: true,
    'aria-label': t('signin.key'),
  });
  const status = h(
    'div',
    { 'aria-live': 'polite' },
    message ? h('p', { class: 'error', role: 'alert' }, message) : null,
  );
  const button = h('button', { type: 'submit' }, t('signin.submit'));
  const form = h(
    'form',
    { class: 'form signin' },
    h('label', {}, t('signin.key'), key),
    h('p', { class: 'muted' }, t('signin.help')),
    button,
    status,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = key.value.trim();
    if (!value) return;
    button.disabled = true;
    try {
      await checkKey(value);
      setApiKey(value);
      render();
    } catch (err) {
      replace(status, errorBox(err));
      button.disabled = false;
    }
  });
  replace(
    root,
    header(false),
    h('main', {}, h('section', { class: 'card' }, h('h1', {}, t('signin.title')), form)),
  );
  key.focus();
}

let generation = 0;

function render(): void {
  document.documentElement.lang = currentLang();
  document.title = t('title');
  if (!apiKey()) {
    signIn();
    return;
  }
  const main = h('main', {}, h('p', { class: 'muted' }, t('loading')));
  replace(root, header(true), main);
  const [path = '', query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const mine = ++generation;
  const view =
    parts[0] === 'instruments' && parts[1]
      ? instrument(main, parts[1])
      : parts[0] === 'instruments'
        ? instruments(main, params)
        : parts[0] === 'alerts'
          ? alerts(main, params)
          : parts[0] === 'idle'
            ? idle(main, params)
            : parts[0] === 'reports'
              ? reports(main)
              : parts[0] === 'feedback'
                ? feedback(main, params)
                : overview(main);
  view.catch((err) => {
    if (mine !== generation || (err instanceof ApiError && err.status === 401)) return;
    replace(main, errorBox(err));
  });
}

whenUnauthorized((message) => {
  setApiKey(null);
  signIn(message);
});
window.addEventListener('hashchange', render);
render();
