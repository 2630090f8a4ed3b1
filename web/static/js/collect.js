/*
 * collect.js -- the enumerator's form engine and the /collect page, offline-capable.
 *
 * The form page carries the questionnaire in <script type="application/json" id="collect-data">
 * (see web/routes/collect.py): sections, items, choice lists, and every relevance,
 * constraint and calculation already parsed into XLSExpr trees. This script
 *
 *   - shows a first screen of design fields (segment, region, cluster, panel code, sex,
 *     age group), then one section per screen with next/back and a progress bar, skipping
 *     sections and items whose relevance is false, and an end screen;
 *   - switches language (ht, fr, en, es: whatever the questionnaire has) at any time
 *     without losing answers; its own words follow the same language;
 *   - evaluates skip logic and constraints as the enumerator types, with the messages of
 *     the questionnaire (required_message, constraint_message) in the current language;
 *   - records the start (first answer) and end (finish) of the interview and gives it a
 *     UUID made on the phone;
 *   - keeps the interview as a draft in IndexedDB after every change (resumable), and on
 *     finish moves it into the send queue (offline-queue.js), which posts it to the API;
 *   - in correction mode (a submission a supervisor sent back) starts from the stored
 *     answers and sends the whole corrected set to the correction endpoint;
 *   - registers the service worker (/sw.js) and asks it to keep the forms for offline use;
 *   - asks a repeat group (a household roster) once per repetition on one screen: the
 *     enumerator adds and removes repetitions, or repeat_count fixes how many; the answers
 *     travel as answers[repeat] = [{code: answer}, ...] (state.repeats in drafts).
 *
 * No inline script or handler anywhere (the CSP forbids them), no eval; DOM built with
 * textContent only. Plain ES2017 for old Android Chrome.
 */
(function () {
  'use strict';

  var Q = window.KonbitQueue;
  var X = window.XLSExpr;

  // --- the form's own words, in the questionnaire's languages --------------------------

  var UI = {
    en: {
      next: 'Next', back: 'Back', finish: 'Finish interview', save_finish: 'Send the correction',
      save_draft: 'Save and leave', language: 'Language', required: 'This question needs an answer.',
      invalid: 'This answer is not accepted.', integer: 'Enter a whole number.', decimal: 'Enter a number.',
      date: 'Enter a date (year-month-day).', progress: 'Screen {n} of {total}', interview: 'Interview',
      segment: 'Audience segment', region: 'Region (department)', cluster: 'Cluster (community or area)',
      stratum: 'Stratum', respondent_code: 'Respondent code (panel)', arm: 'Area', sex: 'Sex',
      age_group: 'Age group', choose: 'Choose…', use_location: 'Use my location', geopoint_placeholder: 'latitude longitude', end: 'End of the questionnaire',
      answered: '{n} questions answered.', fix: 'Correct the answers marked in red.',
      saved: 'Interview saved on the phone.', queued: 'It will be sent as soon as there is a connection.',
      sent: 'Sent to the server.', refused: 'Refused by the server:', new_interview: 'Start a new interview',
      to_list: 'Back to the list', drafts: 'Unfinished interviews on this phone', resume: 'Resume',
      discard: 'Discard', discard_confirm: 'Delete this unfinished interview?', started: 'started',
      correction_note: 'What did you correct?', correction_saved: 'Correction saved on the phone.',
      readonly: 'Read only: this submission is not waiting for a correction.',
      intervention: 'Intervention area', comparison: 'Comparison area',
      female: 'Female', male: 'Male', other: 'Other', no_answer: 'Prefers not to say', optional: '(optional)',
      design_intro: 'Who and where: asked once per interview.', no_draft: 'This draft is no longer on the phone; a new interview starts.',
      unit: 'Cluster (from the sampling frame)', not_in_frame: 'Choose the cluster from the list: this one is not in the sampling frame.',
      // the queue panel and the page around the form
      q_title: "Interviews on this phone", q_waiting: "waiting", q_sent: "sent", q_refused: "refused", q_send: "Send now", q_checking: "Checking the phone's storage…", q_login_again: "Log in again to send the {n} waiting interview(s).", q_offline: "Offline: {n} interview(s) will be sent when the connection returns.", q_waiting_n: "{n} interview(s) waiting to be sent; retried automatically.", q_refused_note: "Refused interviews stay on the phone until you remove them; your supervisor can see conflicts.", q_all_sent: "Everything has been sent.", q_empty: "No interview on this phone yet.", q_login: "Log in", q_storage: "The phone cannot store interviews:", q_no_storage: "This browser cannot keep interviews.", q_correction: "Correction:", q_wait_user: "Waiting for {user} to log in on this phone.", q_retry: "Try again", q_remove: "Remove from phone", q_remove_confirm: "Remove this refused interview from the phone? It cannot be sent afterwards.", offline_form: "Offline: the interview is kept on the phone and sent when the connection returns.",
      storage_error: 'The phone could not store the interview:',
      add_repetition: 'Add another: {label}', remove_repetition: 'Remove', repetition: '{label} {n}',
      no_repetitions: 'None yet.'
    },
    fr: {
      next: 'Suivant', back: 'Retour', finish: "Terminer l'entretien", save_finish: 'Envoyer la correction',
      save_draft: 'Enregistrer et quitter', language: 'Langue', required: 'Cette question demande une réponse.',
      invalid: "Cette réponse n'est pas acceptée.", integer: 'Saisissez un nombre entier.', decimal: 'Saisissez un nombre.',
      date: 'Saisissez une date (année-mois-jour).', progress: 'Écran {n} sur {total}', interview: 'Entretien',
      segment: 'Segment de public', region: 'Région (département)', cluster: 'Grappe (communauté ou zone)',
      stratum: 'Strate', respondent_code: 'Code du répondant (panel)', arm: 'Zone', sex: 'Sexe',
      age_group: "Tranche d'âge", choose: 'Choisir…', use_location: 'Ma position', geopoint_placeholder: 'latitude longitude', end: 'Fin du questionnaire',
      answered: '{n} questions répondues.', fix: 'Corrigez les réponses marquées en rouge.',
      saved: 'Entretien enregistré sur le téléphone.', queued: 'Il sera envoyé dès que la connexion sera là.',
      sent: 'Envoyé au serveur.', refused: 'Refusé par le serveur :', new_interview: 'Commencer un nouvel entretien',
      to_list: 'Retour à la liste', drafts: 'Entretiens non terminés sur ce téléphone', resume: 'Reprendre',
      discard: 'Supprimer', discard_confirm: 'Supprimer cet entretien non terminé ?', started: 'commencé',
      correction_note: "Qu'avez-vous corrigé ?", correction_saved: 'Correction enregistrée sur le téléphone.',
      readonly: "Lecture seule : cette soumission n'attend pas de correction.",
      intervention: "Zone d'intervention", comparison: 'Zone de comparaison',
      female: 'Femme', male: 'Homme', other: 'Autre', no_answer: 'Préfère ne pas dire', optional: '(facultatif)',
      design_intro: 'Qui et où : demandé une fois par entretien.', no_draft: "Ce brouillon n'est plus sur le téléphone ; un nouvel entretien commence.",
      unit: "Grappe (de la base de sondage)", not_in_frame: "Choisissez la grappe dans la liste : celle-ci n'est pas dans la base de sondage.",
      // the queue panel and the page around the form
      q_title: "Entretiens sur ce téléphone", q_waiting: "en attente", q_sent: "envoyés", q_refused: "refusés", q_send: "Envoyer maintenant", q_checking: "Vérification de la mémoire du téléphone…", q_login_again: "Reconnectez-vous pour envoyer les {n} entretien(s) en attente.", q_offline: "Hors ligne : {n} entretien(s) seront envoyés au retour de la connexion.", q_waiting_n: "{n} entretien(s) en attente d'envoi ; nouvel essai automatique.", q_refused_note: "Les entretiens refusés restent sur le téléphone jusqu'à ce que vous les retiriez ; votre superviseur voit les conflits.", q_all_sent: "Tout a été envoyé.", q_empty: "Aucun entretien sur ce téléphone pour l'instant.", q_login: "Se connecter", q_storage: "Le téléphone ne peut pas enregistrer les entretiens :", q_no_storage: "Ce navigateur ne peut pas garder les entretiens.", q_correction: "Correction :", q_wait_user: "En attente de la connexion de {user} sur ce téléphone.", q_retry: "Réessayer", q_remove: "Retirer du téléphone", q_remove_confirm: "Retirer cet entretien refusé du téléphone ? Il ne pourra plus être envoyé.", offline_form: "Hors ligne : l'entretien est gardé sur le téléphone et envoyé au retour de la connexion.",
      storage_error: "Le téléphone n'a pas pu enregistrer l'entretien :",
      add_repetition: 'Ajouter : {label}', remove_repetition: 'Retirer', repetition: '{label} {n}',
      no_repetitions: 'Aucun pour le moment.'
    },
    ht: {
      next: 'Swivan', back: 'Retounen', finish: 'Fini entèvyou a', save_finish: 'Voye koreksyon an',
      save_draft: 'Sere epi soti', language: 'Lang', required: 'Fòk ou reponn kesyon sa a.',
      invalid: 'Repons sa a pa akseptab.', integer: 'Mete yon nonb antye.', decimal: 'Mete yon nonb.',
      date: 'Mete yon dat (ane-mwa-jou).', progress: 'Ekran {n} sou {total}', interview: 'Entèvyou',
      segment: 'Segman piblik', region: 'Rejyon (depatman)', cluster: 'Grap (kominote oswa zòn)',
      stratum: 'Estrat', respondent_code: 'Kòd moun k ap reponn lan (panèl)', arm: 'Zòn', sex: 'Sèks',
      age_group: 'Laj', choose: 'Chwazi…', use_location: 'Pozisyon mwen', geopoint_placeholder: 'latitid lonjitid', end: 'Fen kesyonè a',
      answered: '{n} kesyon reponn.', fix: 'Korije repons ki make an wouj yo.',
      saved: 'Entèvyou a sere sou telefòn nan.', queued: 'L ap voye depi gen koneksyon.',
      sent: 'Li rive sou sèvè a.', refused: 'Sèvè a refize l :', new_interview: 'Kòmanse yon lòt entèvyou',
      to_list: 'Retounen nan lis la', drafts: 'Entèvyou ki pa fini sou telefòn sa a', resume: 'Kontinye',
      discard: 'Efase', discard_confirm: 'Efase entèvyou ki pa fini sa a?', started: 'kòmanse',
      correction_note: 'Kisa ou korije?', correction_saved: 'Koreksyon an sere sou telefòn nan.',
      readonly: 'Pou li sèlman: pa gen koreksyon k ap tann pou soumisyon sa a.',
      intervention: 'Zòn entèvansyon', comparison: 'Zòn konparezon',
      female: 'Fi', male: 'Gason', other: 'Lòt', no_answer: 'Pa vle di', optional: '(si w vle)',
      design_intro: 'Ki moun ak ki kote: yon sèl fwa pou chak entèvyou.', no_draft: 'Bouyon sa a pa sou telefòn nan ankò; yon nouvo entèvyou kòmanse.',
      unit: 'Grap (nan baz echantiyon an)', not_in_frame: 'Chwazi grap la nan lis la: sa a pa nan baz echantiyon an.',
      // the queue panel and the page around the form
      q_title: "Entèvyou sou telefòn sa a", q_waiting: "ap tann", q_sent: "voye", q_refused: "refize", q_send: "Voye kounye a", q_checking: "N ap tcheke memwa telefòn nan…", q_login_again: "Konekte ankò pou voye {n} entèvyou k ap tann yo.", q_offline: "Pa gen koneksyon: {n} entèvyou ap pati lè koneksyon an tounen.", q_waiting_n: "{n} entèvyou ap tann pou yo pati; telefòn nan ap eseye ankò poukont li.", q_refused_note: "Entèvyou sèvè a refize yo rete sou telefòn nan jiskaske ou retire yo; sipèvizè ou ka wè konfli yo.", q_all_sent: "Tout entèvyou yo pati.", q_empty: "Poko gen entèvyou sou telefòn sa a.", q_login: "Konekte", q_storage: "Telefòn nan pa ka sere entèvyou:", q_no_storage: "Navigatè sa a pa ka kenbe entèvyou.", q_correction: "Koreksyon:", q_wait_user: "N ap tann {user} konekte sou telefòn sa a.", q_retry: "Eseye ankò", q_remove: "Retire l sou telefòn nan", q_remove_confirm: "Retire entèvyou sèvè a refize sa a sou telefòn nan? Apre sa li pa ka pati ankò.", offline_form: "Pa gen koneksyon: entèvyou a rete sou telefòn nan epi l ap pati lè koneksyon an tounen.",
      storage_error: 'Telefòn nan pa t ka sere entèvyou a:',
      add_repetition: 'Ajoute yon lòt: {label}', remove_repetition: 'Retire', repetition: '{label} {n}',
      no_repetitions: 'Poko genyen.'
    },
    es: {
      next: 'Siguiente', back: 'Atrás', finish: 'Terminar la entrevista', save_finish: 'Enviar la corrección',
      save_draft: 'Guardar y salir', language: 'Idioma', required: 'Esta pregunta necesita una respuesta.',
      invalid: 'Esta respuesta no es válida.', integer: 'Escriba un número entero.', decimal: 'Escriba un número.',
      date: 'Escriba una fecha (año-mes-día).', progress: 'Pantalla {n} de {total}', interview: 'Entrevista',
      segment: 'Segmento de público', region: 'Región (departamento)', cluster: 'Conglomerado (comunidad o zona)',
      stratum: 'Estrato', respondent_code: 'Código del encuestado (panel)', arm: 'Zona', sex: 'Sexo',
      age_group: 'Grupo de edad', choose: 'Elegir…', use_location: 'Mi ubicación', geopoint_placeholder: 'latitud longitud', end: 'Fin del cuestionario',
      answered: '{n} preguntas respondidas.', fix: 'Corrija las respuestas marcadas en rojo.',
      saved: 'Entrevista guardada en el teléfono.', queued: 'Se enviará en cuanto haya conexión.',
      sent: 'Enviada al servidor.', refused: 'Rechazada por el servidor:', new_interview: 'Empezar una nueva entrevista',
      to_list: 'Volver a la lista', drafts: 'Entrevistas sin terminar en este teléfono', resume: 'Reanudar',
      discard: 'Borrar', discard_confirm: '¿Borrar esta entrevista sin terminar?', started: 'empezada',
      correction_note: '¿Qué corrigió?', correction_saved: 'Corrección guardada en el teléfono.',
      readonly: 'Solo lectura: este envío no espera corrección.',
      intervention: 'Zona de intervención', comparison: 'Zona de comparación',
      female: 'Mujer', male: 'Hombre', other: 'Otro', no_answer: 'Prefiere no decir', optional: '(opcional)',
      design_intro: 'Quién y dónde: una vez por entrevista.', no_draft: 'Este borrador ya no está en el teléfono; empieza una nueva entrevista.',
      unit: 'Conglomerado (del marco muestral)', not_in_frame: 'Elija el conglomerado de la lista: este no está en el marco muestral.',
      // the queue panel and the page around the form
      q_title: "Entrevistas en este teléfono", q_waiting: "en espera", q_sent: "enviadas", q_refused: "rechazadas", q_send: "Enviar ahora", q_checking: "Revisando la memoria del teléfono…", q_login_again: "Vuelva a iniciar sesión para enviar las {n} entrevista(s) en espera.", q_offline: "Sin conexión: {n} entrevista(s) se enviarán cuando vuelva la conexión.", q_waiting_n: "{n} entrevista(s) en espera de envío; se reintenta automáticamente.", q_refused_note: "Las entrevistas rechazadas quedan en el teléfono hasta que las quite; su supervisor ve los conflictos.", q_all_sent: "Todo se ha enviado.", q_empty: "Aún no hay entrevistas en este teléfono.", q_login: "Iniciar sesión", q_storage: "El teléfono no puede guardar entrevistas:", q_no_storage: "Este navegador no puede guardar entrevistas.", q_correction: "Corrección:", q_wait_user: "Esperando a que {user} inicie sesión en este teléfono.", q_retry: "Reintentar", q_remove: "Quitar del teléfono", q_remove_confirm: "¿Quitar esta entrevista rechazada del teléfono? Ya no podrá enviarse.", offline_form: "Sin conexión: la entrevista se guarda en el teléfono y se envía cuando vuelva la conexión.",
      storage_error: 'El teléfono no pudo guardar la entrevista:',
      add_repetition: 'Añadir otro: {label}', remove_repetition: 'Quitar', repetition: '{label} {n}',
      no_repetitions: 'Ninguno por ahora.'
    }
  };
  var LANGUAGE_NAMES = {ht: 'Kreyòl', fr: 'Français', en: 'English', es: 'Español'};

  // A word of the form's own in ``lang`` ({n}, {user} filled from ``vars``), English when missing.
  function ui(lang, key, vars) {
    var table = UI[lang] || UI.en;
    var text = table[key] !== undefined ? table[key] : UI.en[key];
    Object.keys(vars || {}).forEach(function (k) { text = text.split('{' + k + '}').join(String(vars[k])); });
    return text;
  }

  // The words the server wrote in the page around the form (marked data-ui="key"), in ``lang``.
  function translatePage(lang) {
    var marked = document.querySelectorAll('[data-ui]');
    for (var i = 0; i < marked.length; i++) marked[i].textContent = ui(lang, marked[i].getAttribute('data-ui'));
  }

  // The language of the enumerator's pages: the interview's, else the last one chosen on this phone.
  var pageLanguage = function () { return storage(LANG_KEY) || document.documentElement.lang || 'en'; };
  var LANG_KEY = 'konbit-collect-language';
  var DESIGN_KEY = 'konbit-collect-design';
  var DEVICE_KEY = 'konbit-device-id';
  var STICKY_DESIGN = ['segment', 'region', 'cluster', 'stratum', 'arm'];
  var DESIGN_FIELDS = ['segment', 'region', 'cluster', 'stratum', 'respondent_code', 'arm', 'sex', 'age_group'];
  var METADATA = {start: 1, end: 1, today: 1, username: 1, deviceid: 1, phonenumber: 1, simserial: 1,
    subscriberid: 1, email: 1, audit: 1, hidden: 1, 'start-geopoint': 1, 'background-audio': 1,
    'background-geopoint': 1};
  var CHOICE_TYPES = {single_choice: 1, multiple_choice: 1, likert4: 1, likert5: 1, yes_no_dk: 1};
  var INTEGER_RE = /^-?[0-9]+$/;
  var DECIMAL_RE = /^-?([0-9]+([.,][0-9]*)?|[.,][0-9]+)$/;
  var DATE_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
  var REF_RE = /\$\{\s*([^}\s]+)\s*\}/g;
  var MAX_REPETITIONS = 500;  // as surveys.rules.MAX_REPETITIONS

  // --- small helpers -------------------------------------------------------------------

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') el.textContent = v;
        else if (k === 'className') el.className = v;
        else if (v === true) el.setAttribute(k, '');
        else el.setAttribute(k, String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return values[k] === undefined ? m : String(values[k]); });
  }

  function uuid4() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === 'function') {
      try { return c.randomUUID(); } catch (err) { /* not a secure context: fall back */ }
    }
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join('');
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' + hex.slice(16, 20) + '-' + hex.slice(20);
  }

  function storage(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(key);
      window.localStorage.setItem(key, value);
    } catch (err) { /* private mode: no memory between interviews */ }
    return null;
  }

  function deviceId() {
    var id = storage(DEVICE_KEY);
    if (!id) {
      id = uuid4();
      storage(DEVICE_KEY, id);
    }
    return id;
  }

  function todayString() {
    var d = new Date();
    return d.getFullYear() + '-' + ('0' + (d.getMonth() + 1)).slice(-2) + '-' + ('0' + d.getDate()).slice(-2);
  }

  function localTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.getFullYear() + '-' + ('0' + (d.getMonth() + 1)).slice(-2) + '-' + ('0' + d.getDate()).slice(-2) + ' ' +
      ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
  }

  // An expression result as the string a field holds (XPath string()).
  function asString(value) {
    if (typeof value === 'boolean') return value ? 'true' : 'false';
    if (typeof value === 'number') return X.evaluate(['ref', 'v'], {v: value}, '');
    return value === null || value === undefined ? '' : String(value);
  }

  var warned = {};
  function warnOnce(key, err) {
    if (warned[key]) return;
    warned[key] = true;
    if (window.console) console.warn('expression of ' + key + ' could not be evaluated: ' + (err && err.message));
  }

  // --- service worker --------------------------------------------------------------------

  function registerWorker(urls) {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register('/sw.js', {scope: '/collect'}).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      if (!reg.active) return;
      navigator.serviceWorker.addEventListener('message', function (event) {
        if (event.data && event.data.type === 'precached') document.documentElement.setAttribute('data-offline-ready', '1');
      });
      if (navigator.onLine !== false) reg.active.postMessage({type: 'precache', urls: urls});
      else document.documentElement.setAttribute('data-offline-ready', '1');
    }).catch(function (err) {
      if (window.console) console.warn('offline mode unavailable: ' + err.message);
    });
  }

  function watchConnection() {
    var banners = document.querySelectorAll('[data-offline-banner]');
    function update() {
      for (var i = 0; i < banners.length; i++) banners[i].hidden = navigator.onLine !== false;
    }
    window.addEventListener('online', update);
    window.addEventListener('offline', update);
    update();
  }

  // --- the queue panel ----------------------------------------------------------------------

  function queuePanel(panel) {
    if (!panel || !Q) return null;
    function t(key, vars) { return ui(pageLanguage(), key, vars); }
    var list = panel.querySelector('[data-queue-list]');
    var status = panel.querySelector('[data-queue-status]');
    var sendButton = panel.querySelector('[data-queue-send]');
    var me = (document.getElementById('collect-app') || document.getElementById('collect-home') ||
      document.getElementById('collect-closed') || document.body)
      .getAttribute('data-username');

    function setCount(name, n) {
      var el = panel.querySelector('[data-count="' + name + '"] b');
      if (el) el.textContent = String(n);
    }

    function row(item) {
      var label = item.label || {};
      var what = [label.survey, label.wave].filter(Boolean).join(' · ');
      var who = label.respondent || label.segment || item.uuid.slice(0, 8);
      var li = h('li', {className: 'queue-item queue-' + item.status, 'data-key': item.key}, [
        h('span', {className: 'badge ' + (item.status === 'sent' ? 'ok' : item.status === 'refused' ? 'err' : ''),
          text: t('q_' + item.status)}), ' ',
        h('strong', {text: (item.kind === 'correction' ? t('q_correction') + ' ' : '') + what}), ' ',
        h('span', {className: 'muted', text: who + ' · ' + localTime(item.created_at)})
      ]);
      if (item.status === 'waiting' && item.username && me && item.username !== me) {
        li.appendChild(h('p', {className: 'muted', text: t('q_wait_user', {user: item.username})}));
      } else if (item.status !== 'sent' && item.error) {
        li.appendChild(h('p', {className: item.status === 'refused' ? 'error' : 'muted', text: item.error}));
      }
      if (item.status === 'refused') {
        li.appendChild(h('p', {className: 'inline'}, [
          h('button', {type: 'button', 'data-retry': item.key, text: t('q_retry')}),
          h('button', {type: 'button', 'data-remove': item.key, text: t('q_remove')})
        ]));
      }
      return li;
    }

    function render() {
      translatePage(pageLanguage());
      return Q.items().then(function (items) {
        var c = {waiting: 0, sent: 0, refused: 0};
        items.forEach(function (i) { c[i.status] = (c[i.status] || 0) + 1; });
        setCount('waiting', c.waiting);
        setCount('sent', c.sent);
        setCount('refused', c.refused);
        panel.setAttribute('data-waiting', c.waiting);
        panel.setAttribute('data-sent', c.sent);
        panel.setAttribute('data-refused', c.refused);
        var text;
        if (Q.state.authNeeded && c.waiting) {
          text = t('q_login_again', {n: c.waiting});
        } else if (navigator.onLine === false && c.waiting) {
          text = t('q_offline', {n: c.waiting});
        } else if (c.waiting) {
          text = t('q_waiting_n', {n: c.waiting});
        } else if (c.refused) {
          text = t('q_refused_note');
        } else if (items.length) {
          text = t('q_all_sent');
        } else {
          text = t('q_empty');
        }
        status.textContent = text;
        if (Q.state.authNeeded && c.waiting) {
          status.appendChild(document.createTextNode(' '));
          status.appendChild(h('a', {href: '/login?next=' + encodeURIComponent(window.location.pathname), text: t('q_login')}));
        }
        clear(list);
        var shown = items.filter(function (i) { return i.status !== 'sent'; })
          .concat(items.filter(function (i) { return i.status === 'sent'; }).slice(0, 5));
        shown.forEach(function (i) { list.appendChild(row(i)); });
        sendButton.disabled = !c.waiting;
      }).catch(function (err) {
        status.textContent = t('q_storage') + ' ' + err.message;
        status.className = 'queue-status error';
      });
    }

    panel.addEventListener('click', function (event) {
      var t = event.target;
      if (t.closest('[data-queue-send]')) {
        Q.flush({force: true});
      } else if (t.getAttribute('data-retry')) {
        Q.retry(t.getAttribute('data-retry')).then(function () { Q.flush({force: true}); });
      } else if (t.getAttribute('data-remove')) {
        if (window.confirm(t('q_remove_confirm'))) {
          Q.remove(t.getAttribute('data-remove'));
        }
      }
    });
    Q.subscribe(render);
    window.addEventListener('online', render);
    window.addEventListener('offline', render);
    render();
    return render;
  }

  // --- the /collect page: drafts and precaching -------------------------------------------

  function homePage(home) {
    var urls = ['/collect'];
    var links = home.querySelectorAll('a[data-offline-form]');
    for (var i = 0; i < links.length; i++) urls.push(links[i].getAttribute('href'));
    registerWorker(urls);
    var section = home.querySelector('[data-drafts]');
    var list = home.querySelector('[data-draft-list]');
    var me = home.getAttribute('data-username');

    function render() {
      Q.drafts().then(function (drafts) {
        drafts = drafts.filter(function (d) { return !d.username || d.username === me; });
        clear(list);
        section.hidden = !drafts.length;
        drafts.forEach(function (d) {
          var href = (d.page_url || d.form_url) + '?draft=' + encodeURIComponent(d.key);
          list.appendChild(h('li', {className: 'draft-row', 'data-key': d.key}, [
            h('a', {href: href, text: (d.mode === 'correction' ? ui(pageLanguage(), 'q_correction') + ' ' : '') +
              [d.survey_title, d.wave_name].filter(Boolean).join(' · ')}),
            ' ',
            h('span', {className: 'muted', text: (d.design && (d.design.respondent_code || d.design.segment) || '') + ' · ' + localTime(d.updated_at)}),
            ' ',
            h('button', {type: 'button', className: 'link', 'data-discard': d.key, text: ui(pageLanguage(), 'discard')})
          ]));
        });
      }).catch(function () { section.hidden = true; });
    }

    list.addEventListener('click', function (event) {
      var key = event.target.getAttribute('data-discard');
      if (key && window.confirm(ui(pageLanguage(), 'discard_confirm'))) Q.deleteDraft(key);
    });
    Q.subscribe(render);
    render();
  }

  // --- the form engine ------------------------------------------------------------------------

  function FormEngine(root, data) {
    this.root = root;
    this.body = root.querySelector('[data-collect-body]');
    this.data = data;
    this.form = data.form;
    this.correction = data.correction || null;
    this.readonly = !!(this.correction && !this.correction.editable);
    this.items = [];
    this.byCode = {};
    var self = this;
    this.repeatSections = {};  // repeat name -> its section (one screen)
    this.form.sections.forEach(function (section, si) {
      if (section.repeat) self.repeatSections[section.repeat.name] = section;
      section.items.forEach(function (item) {
        item.section = si;
        if (section.repeat) item.repeat = section.repeat.name;
        else self.items.push(item);
        self.byCode[item.code] = item;
      });
    });
    this.saveTimer = null;
    this.state = null;
  }

  FormEngine.prototype.t = function (key) {
    var lang = this.state ? this.state.language : this.form.default_language;
    var table = UI[lang] || UI.en;
    return table[key] !== undefined ? table[key] : UI.en[key];
  };

  FormEngine.prototype.text = function (labels) {
    if (!labels) return '';
    var lang = this.state.language;
    if (labels[lang]) return labels[lang];
    if (labels[this.form.default_language]) return labels[this.form.default_language];
    for (var i = 0; i < this.form.languages.length; i++) {
      if (labels[this.form.languages[i]]) return labels[this.form.languages[i]];
    }
    var keys = Object.keys(labels);
    return keys.length ? labels[keys[0]] : '';
  };

  FormEngine.prototype.draftKey = function () {
    return this.correction ? 'fix:' + this.state.uuid : this.state.uuid;
  };

  FormEngine.prototype.initialLanguage = function () {
    var saved = storage(LANG_KEY);
    if (saved && this.form.languages.indexOf(saved) >= 0) return saved;
    return this.form.default_language;
  };

  FormEngine.prototype.newState = function () {
    var sticky = {};
    try { sticky = JSON.parse(storage(DESIGN_KEY) || '{}') || {}; } catch (err) { sticky = {}; }
    var design = {};
    DESIGN_FIELDS.forEach(function (f) { design[f] = STICKY_DESIGN.indexOf(f) >= 0 && sticky[f] ? String(sticky[f]) : ''; });
    var answers = {};
    this.items.forEach(function (item) {
      if (item.default && item.default.indexOf('${') < 0 && !METADATA[item.type] && item.type !== 'calculate' && item.type !== 'note') {
        answers[item.code] = item.default;
      }
    });
    return {
      uuid: uuid4(), language: this.initialLanguage(), screen: 0, design: design, answers: answers, repeats: {},
      started_at: null, ended_at: null, touched: {}, attempted: {}, dirty: false, note: ''
    };
  };

  FormEngine.prototype.correctionState = function () {
    var c = this.correction;
    var self = this;
    var answers = {};
    var repeats = {};
    Object.keys(c.answers || {}).forEach(function (code) {
      var v = c.answers[code];
      if (v === null || v === undefined) return;
      if (self.repeatSections[code] && Array.isArray(v)) {
        repeats[code] = v.map(function (r) {
          var out = {};
          Object.keys(r || {}).forEach(function (k) {
            var x = r[k];
            if (x === null || x === undefined) return;
            out[k] = Array.isArray(x) ? x.join(' ') : (typeof x === 'string' ? x : asString(x));
          });
          return out;
        });
        return;
      }
      if (Array.isArray(v)) v = v.join(' ');
      answers[code] = typeof v === 'string' ? v : asString(v);
      if (self.byCode[code] && self.byCode[code].type === 'date') answers[code] = answers[code].slice(0, 10);
    });
    var design = {};
    DESIGN_FIELDS.forEach(function (f) { design[f] = c.design && c.design[f] ? String(c.design[f]) : ''; });
    var lang = c.language && this.form.languages.indexOf(c.language) >= 0 ? c.language : this.initialLanguage();
    return {
      uuid: c.uuid, language: lang, screen: 0, design: design, answers: answers, repeats: repeats,
      started_at: c.started_at, ended_at: c.ended_at, touched: {}, attempted: {}, dirty: false, note: ''
    };
  };

  FormEngine.prototype.fromDraft = function (d) {
    return {
      uuid: d.uuid, language: this.form.languages.indexOf(d.language) >= 0 ? d.language : this.initialLanguage(),
      screen: d.screen || 0, design: d.design || {}, answers: d.answers || {}, repeats: d.repeats || {},
      started_at: d.started_at,
      ended_at: null, touched: d.touched || {}, attempted: {}, dirty: true, note: d.note || ''
    };
  };

  // Values for expressions: every item, '' when not relevant; relevance of sections and items.
  FormEngine.prototype.compute = function () {
    var st = this.state;
    var values = {};
    var self = this;
    var meta = {
      start: st.started_at || '', end: st.ended_at || '', today: todayString(),
      username: this.data.username || '', deviceid: deviceId()
    };
    this.items.forEach(function (item) {
      if (METADATA[item.type]) values[item.code] = meta[item.type] || '';
      else if (item.type === 'note' || item.type === 'calculate') values[item.code] = '';
      else values[item.code] = st.answers[item.code] || '';
    });
    var relevant = {};
    var sectionRelevant = [];
    var repeats = {};  // the repeat context of expressions: repeat name -> each repetition's values
    var reps = {};  // repeat name -> each repetition's {values, relevant}
    var context = {repeats: repeats};
    Object.keys(this.repeatSections).forEach(function (name) { repeats[name] = []; });
    this.form.sections.forEach(function (section, si) {
      var on = self.truth(section.relevant, values, '', true, 'section ' + section.name, context);
      sectionRelevant[si] = on;
      if (section.repeat) {
        self.computeRepeat(section, on, values, repeats, reps);
        return;
      }
      section.items.forEach(function (item) {
        var r = on && self.truth(item.relevant, values, values[item.code], true, item.code, context);
        relevant[item.code] = r;
        if (item.type === 'calculate') {
          values[item.code] = r && item.calculation ? self.calc(item, values, context) : '';
        } else if (!r && !METADATA[item.type]) {
          values[item.code] = '';
        }
      });
    });
    return {values: values, relevant: relevant, sections: sectionRelevant, repeats: reps, context: context};
  };

  // How many repetitions repeat_count asks for (null: the enumerator decides), at most 500 as the server takes.
  FormEngine.prototype.fixedCount = function (section, values, repeats) {
    if (!section.repeat.count) return null;
    try {
      var n = Number(X.evaluate(section.repeat.count, values, '', {repeats: repeats}));
      if (isNaN(n)) return null;
      return Math.max(0, Math.min(MAX_REPETITIONS, Math.floor(n)));
    } catch (err) {
      warnOnce('repeat_count ' + section.repeat.name, err);
      return null;
    }
  };

  // The repetitions of one repeat: each one's values (calculations done, '' when not relevant) and relevance.
  FormEngine.prototype.computeRepeat = function (section, on, values, repeats, reps) {
    var self = this;
    var name = section.repeat.name;
    var given = this.repetitions(name);
    var fixed = on ? this.fixedCount(section, values, repeats) : null;
    if (fixed !== null && !this.readonly) {
      while (given.length < fixed) given.push({});
      if (given.length > fixed) given.length = fixed;
    }
    var count = on ? given.length : 0;
    var instances = [];
    for (var i = 0; i < count; i++) {
      var inst = {};
      section.items.forEach(function (item) {
        inst[item.code] = item.type === 'note' || item.type === 'calculate' || METADATA[item.type] ? '' : given[i][item.code] || '';
      });
      instances.push(inst);
    }
    repeats[name] = instances;
    var out = [];
    instances.forEach(function (inst, k) {
      var options = {repeats: repeats, position: {}};
      options.position[name] = k + 1;
      var relevant = {};
      section.items.forEach(function (item) {
        var r = self.truth(item.relevant, values, inst[item.code], true, item.code, options);
        relevant[item.code] = r;
        if (item.type === 'calculate') inst[item.code] = r && item.calculation ? self.calc(item, values, options, name + '[' + (k + 1) + ']/' + item.code) : '';
        else if (!r) inst[item.code] = '';
      });
      out.push({values: inst, relevant: relevant, options: options});
    });
    reps[name] = out;
  };

  // The repetitions of a repeat in the state (created when missing).
  FormEngine.prototype.repetitions = function (name) {
    if (!this.state.repeats) this.state.repeats = {};
    if (!this.state.repeats[name]) this.state.repeats[name] = [];
    return this.state.repeats[name];
  };

  FormEngine.prototype.truth = function (tree, values, current, fallback, where, options) {
    if (!tree) return fallback;
    try {
      return X.truthy(X.evaluate(tree, values, current, options));
    } catch (err) {
      warnOnce(where, err);
      return fallback;
    }
  };

  FormEngine.prototype.calc = function (item, values, context, where) {
    try {
      // Seeded by the interview and the field (in a repeat: repeat[i]/code, as the server seeds it):
      // random() draws the same number at every evaluation, as once(random()) would.
      var seed = X.seedFor(this.state ? this.state.uuid || '' : '', where || item.code);
      var options = {seed: seed};
      if (context) { options.repeats = context.repeats; if (context.position) options.position = context.position; }
      return asString(X.evaluate(item.calculation, values, '', options));
    } catch (err) {
      warnOnce(item.code, err);
      return '';
    }
  };

  FormEngine.prototype.message = function (messages, fallbackKey) {
    var text = this.text(messages);
    return text || this.t(fallbackKey);
  };

  // The message for an item's current answer, '' when fine.
  FormEngine.prototype.validate = function (item, computed, showRequired) {
    if (!computed.relevant[item.code]) return '';
    return this.check(item, this.state.answers[item.code] || '', computed.values, showRequired, computed.context);
  };

  // The message for one answer of a repetition ``index`` (from 0) of a repeat, '' when fine.
  FormEngine.prototype.validateChild = function (item, index, computed, showRequired) {
    var rep = (computed.repeats[item.repeat] || [])[index];
    if (!rep || !rep.relevant[item.code]) return '';
    var v = (this.repetitions(item.repeat)[index] || {})[item.code] || '';
    return this.check(item, v, computed.values, showRequired, rep.options);
  };

  FormEngine.prototype.check = function (item, v, values, showRequired, options) {
    if (METADATA[item.type] || item.type === 'note' || item.type === 'calculate') return '';
    if (v === '') return item.required && showRequired ? this.message(item.required_message, 'required') : '';
    if (item.type === 'integer' && !INTEGER_RE.test(v.trim())) return this.t('integer');
    if (item.type === 'decimal' && !DECIMAL_RE.test(v.trim())) return this.t('decimal');
    if (item.type === 'date' && !DATE_RE.test(v)) return this.t('date');
    if (item.constraint && !this.truth(item.constraint, values, v, true, item.code + ' constraint', options)) {
      return this.message(item.constraint_message, 'invalid');
    }
    var names = this.offered(item, values);
    if (names && v.split(/\s+/).some(function (c) { return c && !names[c]; })) return this.t('invalid');
    return '';
  };

  FormEngine.prototype.designErrors = function (showRequired) {
    var d = this.state.design;
    var errors = {};
    if (!showRequired) return errors;
    if (!d.segment) errors.segment = this.t('required');
    if (!d.region) errors.region = this.t('required');
    if (this.data.wave.design === 'panel' && !d.respondent_code) errors.respondent_code = this.t('required');
    if (this.frameIndex(d) < 0) errors.cluster = d.cluster || d.stratum ? this.t('not_in_frame') : this.t('required');
    return errors;
  };

  // The position of the interview's stratum and cluster in the wave's sampling frame (-1: not in it;
  // 0 when the wave has no frame). The page carries the frame, so this also works offline.
  FormEngine.prototype.frameIndex = function (d) {
    var frame = this.data.frame || [];
    if (!frame.length) return 0;
    for (var i = 0; i < frame.length; i++) {
      if (frame[i].stratum === (d.stratum || '') && frame[i].cluster === (d.cluster || '')) return i;
    }
    return -1;
  };

  // Screens: 0 = design, 1..n = sections, n+1 = end.
  FormEngine.prototype.screenCount = function () { return this.form.sections.length + 2; };

  FormEngine.prototype.visibleScreens = function (computed) {
    var out = [0];
    for (var i = 0; i < this.form.sections.length; i++) if (computed.sections[i]) out.push(i + 1);
    out.push(this.form.sections.length + 1);
    return out;
  };

  // --- rendering ---

  FormEngine.prototype.start = function () {
    var self = this;
    var params = new URLSearchParams(window.location.search);
    var draftKey = params.get('draft');
    var begin = function (state, notice) {
      self.state = state;
      self.render();
      if (notice) self.flash(notice);
      if (!self.correction && !draftKey) self.showDrafts();
    };
    if (draftKey && Q) {
      Q.getDraft(draftKey).then(function (d) {
        if (d && d.form_url === self.data.form_url) begin(self.fromDraft(d));
        else begin(self.correction ? self.correctionState() : self.newState(), self.t('no_draft'));
      }, function () { begin(self.correction ? self.correctionState() : self.newState()); });
    } else {
      begin(this.correction ? this.correctionState() : this.newState());
    }
  };

  FormEngine.prototype.flash = function (text, cls) {
    var el = this.body.querySelector('[data-form-flash]');
    if (!el) return;
    el.textContent = text;
    el.className = cls || 'note';
    el.hidden = !text;
  };

  FormEngine.prototype.render = function () {
    var self = this;
    clear(this.body);
    var computed = this.compute();
    var screens = this.visibleScreens(computed);
    if (screens.indexOf(this.state.screen) < 0) this.state.screen = 0;
    var position = screens.indexOf(this.state.screen);

    // top bar: language and progress
    var select = h('select', {'data-language': true, 'aria-label': this.t('language')});
    this.form.languages.forEach(function (lang) {
      var opt = h('option', {value: lang, text: LANGUAGE_NAMES[lang] || (self.form.language_names || {})[lang] || lang});
      if (lang === self.state.language) opt.selected = true;
      select.appendChild(opt);
    });
    var total = this.screenCount();
    var progress = h('progress', {max: total, value: this.state.screen + 1, 'aria-hidden': 'true'});
    this.body.appendChild(h('div', {className: 'collect-bar'}, [
      h('label', {className: 'lang-switch'}, [this.t('language') + ' ', select]),
      h('div', {className: 'collect-progress'}, [
        h('span', {'data-progress': true, text: fmt(this.t('progress'), {n: this.state.screen + 1, total: total})}),
        progress
      ])
    ]));
    this.body.appendChild(h('p', {'data-form-flash': true, hidden: true, role: 'status'}));
    if (this.readonly) this.body.appendChild(h('p', {className: 'muted', text: this.t('readonly')}));

    var screen = h('section', {className: 'collect-screen', 'data-screen': this.state.screen});
    if (this.state.screen === 0) this.renderDesign(screen);
    else if (this.state.screen > this.form.sections.length) this.renderEnd(screen, computed);
    else this.renderSection(screen, this.state.screen - 1);
    this.body.appendChild(screen);

    var nav = h('div', {className: 'collect-nav'});
    if (position > 0) nav.appendChild(h('button', {type: 'button', 'data-back': true, text: '← ' + this.t('back')}));
    if (this.state.screen <= this.form.sections.length) {
      nav.appendChild(h('button', {type: 'button', className: 'primary', 'data-next': true, text: this.t('next') + ' →'}));
    } else if (!this.readonly) {
      nav.appendChild(h('button', {type: 'button', className: 'primary', 'data-finish': true,
        text: this.correction ? this.t('save_finish') : this.t('finish')}));
    }
    if (!this.readonly && !this.correction) {
      nav.appendChild(h('button', {type: 'button', className: 'link', 'data-save-draft': true, text: this.t('save_draft')}));
    }
    this.body.appendChild(nav);
    this.refresh();
    this.root.setAttribute('data-screen-name', this.state.screen === 0 ? 'design' :
      this.state.screen > this.form.sections.length ? 'end' : this.form.sections[this.state.screen - 1].name);
  };

  FormEngine.prototype.renderDesign = function (screen) {
    var self = this;
    var c = this.data.design;
    var d = this.state.design;
    screen.appendChild(h('h2', {text: this.t('interview')}));
    screen.appendChild(h('p', {className: 'muted', text: this.t('design_intro')}));

    function field(name, control, required) {
      control.setAttribute('data-design', name);
      control.id = 'design-' + name;
      if (self.readonly) control.disabled = true;
      return h('div', {className: 'q', 'data-design-field': name}, [
        h('label', {'for': control.id, className: 'q-label'}, [
          self.t(name), required ? h('span', {className: 'req', 'aria-hidden': 'true', text: ' *'}) : ' ' + self.t('optional')
        ]),
        control,
        h('p', {className: 'q-error', role: 'alert', hidden: true})
      ]);
    }
    function choose(name, options, labelOf) {
      var select = h('select', {}, [h('option', {value: '', text: self.t('choose')})]);
      options.forEach(function (o) {
        var value = Array.isArray(o) ? o[0] : o;
        var opt = h('option', {value: value, text: labelOf ? labelOf(o) : value});
        if (d[name] === value) opt.selected = true;
        select.appendChild(opt);
      });
      return select;
    }
    function input(name, extra) {
      var el = h('input', Object.assign({type: 'text', value: d[name] || '', autocomplete: 'off'}, extra || {}));
      return el;
    }
    var lang = this.state.language;
    screen.appendChild(field('segment', choose('segment', c.segments, function (o) {
      var names = o[1];  // {language: name}
      return typeof names === 'string' ? names : names[lang] || names.en || o[0];
    }), true));
    var regions = h('datalist', {id: 'region-list'});
    c.regions.forEach(function (r) { regions.appendChild(h('option', {value: r})); });
    screen.appendChild(regions);
    screen.appendChild(field('region', input('region', {list: 'region-list', maxlength: 80}), true));
    var frame = this.data.frame || [];
    if (frame.length) {
      // One list of the frame's clusters, grouped by stratum: choosing one sets both (and the weight).
      var at = this.frameIndex(d);
      var select = h('select', {}, [h('option', {value: '', text: self.t('choose')})]);
      var groups = {};
      frame.forEach(function (u, i) {
        var parent = select;
        if (u.stratum) {
          if (!groups[u.stratum]) {
            groups[u.stratum] = h('optgroup', {label: u.stratum});
            select.appendChild(groups[u.stratum]);
          }
          parent = groups[u.stratum];
        }
        var opt = h('option', {value: String(i), text: u.cluster || u.stratum});
        if (i === at) opt.selected = true;
        parent.appendChild(opt);
      });
      var unitField = field('cluster', select, true);
      select.setAttribute('data-design', 'unit');
      unitField.querySelector('label').firstChild.textContent = self.t('unit');
      screen.appendChild(unitField);
    } else {
      screen.appendChild(field('cluster', input('cluster', {maxlength: 80}), false));
      screen.appendChild(field('stratum', input('stratum', {maxlength: 80}), false));
    }
    if (this.data.wave.design === 'panel' || d.respondent_code) {
      screen.appendChild(field('respondent_code', input('respondent_code', {maxlength: 80, autocapitalize: 'characters'}),
        this.data.wave.design === 'panel'));
    }
    screen.appendChild(field('arm', choose('arm', c.arms, function (o) { return self.t(o); }), false));
    screen.appendChild(field('sex', choose('sex', c.sexes, function (o) { return self.t(o); }), false));
    screen.appendChild(field('age_group', choose('age_group', c.age_groups), false));
  };

  FormEngine.prototype.choices = function (item) {
    return (this.form.choice_lists || {})[item.choice_list] || [];
  };

  // Cascading selects: the names of item's choices that its choice_filter offers given the answers
  // so far (null: no filter, every choice). The server checks the same (surveys.rules); a filter
  // that cannot be evaluated offers every choice.
  FormEngine.prototype.offered = function (item, values) {
    if (!item.choice_filter) return null;
    var self = this;
    var names = {};
    this.choices(item).forEach(function (choice) {
      var row = Object.assign({}, choice.extra || {}, {name: choice.name});
      try {
        if (X.truthy(X.evaluate(item.choice_filter, values, '', {choice: row}))) names[choice.name] = true;
      } catch (err) {
        warnOnce(item.code + ' choice_filter', err);
        names[choice.name] = true;
      }
    });
    return names;
  };

  // Show only the offered choices of item's question element; an answer no longer offered (an
  // earlier answer changed) is taken back, as ODK Collect does. Returns whether one was.
  FormEngine.prototype.applyFilter = function (item, el, values) {
    var names = this.offered(item, values);
    if (!names) return false;
    Array.prototype.forEach.call(el.querySelectorAll('input[data-input], option'), function (input) {
      if (!input.value) return;  // the "choose" option
      var hide = !names[input.value];
      var holder = input.tagName === 'OPTION' ? input : input.closest('label') || input;
      holder.hidden = hide;
      input.disabled = hide || this.readonly;
    }, this);
    var value = this.state.answers[item.code] || '';
    if (!value || this.readonly) return false;
    var kept = value.split(/\s+/).filter(function (v) { return names[v]; });
    if (kept.length === value.split(/\s+/).length) return false;
    this.state.answers[item.code] = kept.join(' ');
    Array.prototype.forEach.call(el.querySelectorAll('input[data-input]'), function (input) {
      if (!names[input.value]) input.checked = false;
    });
    var select = el.querySelector('select[data-input]');
    if (select && !names[select.value]) select.value = kept[0] || '';
    return true;
  };

  // One question; ``slot`` ({key, value, repeat, index}) for a question of a repetition.
  FormEngine.prototype.renderItem = function (item, slot) {
    var self = this;
    var code = slot ? slot.key : item.code;
    var value = slot ? slot.value : this.state.answers[code] || '';
    var id = 'f-' + code;
    var wrap = h('div', {className: 'q q-' + item.type, 'data-code': code, id: 'q-' + code});
    if (slot) {
      wrap.setAttribute('data-repeat', slot.repeat);
      wrap.setAttribute('data-index', String(slot.index));
      wrap.setAttribute('data-child', item.code);
    }
    var labelText = this.labelFor(item);
    var req = item.required ? h('span', {className: 'req', 'aria-hidden': 'true', text: ' *'}) : null;
    var hint = this.text(item.hints);
    var hintEl = hint ? h('p', {className: 'q-hint', id: id + '-hint', text: hint}) : null;
    var error = h('p', {className: 'q-error', role: 'alert', id: id + '-error', hidden: true});

    if (item.type === 'note') {
      wrap.appendChild(h('p', {className: 'q-note', 'data-label': true, text: labelText}));
      if (hintEl) wrap.appendChild(hintEl);
      return wrap;
    }
    if (CHOICE_TYPES[item.type]) {
      var multiple = item.type === 'multiple_choice';
      var chosen = value ? value.split(/\s+/) : [];
      var minimal = !multiple && item.appearance && item.appearance.indexOf('minimal') >= 0;
      if (minimal) {
        var select = h('select', {id: id, name: code, 'data-input': true, 'aria-describedby': id + '-error'},
          [h('option', {value: '', text: this.t('choose')})]);
        this.choices(item).forEach(function (choice) {
          var opt = h('option', {value: choice.name, text: self.text(choice.labels) || choice.name});
          if (chosen.indexOf(choice.name) >= 0) opt.selected = true;
          select.appendChild(opt);
        });
        if (this.readonly) select.disabled = true;
        wrap.appendChild(h('label', {'for': id, className: 'q-label', 'data-label': true}, [labelText, req]));
        if (hintEl) wrap.appendChild(hintEl);
        wrap.appendChild(select);
      } else {
        var fieldset = h('fieldset', {className: 'choices' + (item.type.indexOf('likert') === 0 ? ' likert' : ''),
          'aria-describedby': id + '-error'});
        fieldset.appendChild(h('legend', {className: 'q-label', 'data-label': true}, [labelText, req]));
        if (hintEl) fieldset.appendChild(hintEl);
        this.choices(item).forEach(function (choice, k) {
          var input = h('input', {type: multiple ? 'checkbox' : 'radio', name: code, value: choice.name,
            id: id + '-' + k, 'data-input': true});
          if (chosen.indexOf(choice.name) >= 0) input.checked = true;
          if (self.readonly) input.disabled = true;
          fieldset.appendChild(h('label', {className: 'choice', 'for': id + '-' + k}, [input, ' ',
            h('span', {text: self.text(choice.labels) || choice.name})]));
        });
        wrap.appendChild(fieldset);
      }
    } else {
      var control;
      if (item.type === 'text' && item.appearance && item.appearance.indexOf('multiline') >= 0) {
        control = h('textarea', {rows: 3});
        control.value = value;
      } else {
        var attrs = {type: 'text', value: value, autocomplete: 'off'};
        if (item.type === 'integer') { attrs.inputmode = 'numeric'; attrs.pattern = '-?[0-9]*'; }
        if (item.type === 'decimal') attrs.inputmode = 'decimal';
        if (item.type === 'date') { attrs.type = 'date'; attrs.max = '9999-12-31'; }
        if (item.type === 'time') { attrs.type = 'time'; attrs.step = '1'; }
        if (item.type === 'datetime') { attrs.type = 'datetime-local'; attrs.step = '1'; }
        if (item.type === 'range') {
          attrs.type = 'number';
          attrs.inputmode = 'decimal';
          (item.parameters || '').split(/\s+/).forEach(function (kv) {
            var pair = kv.split('=');
            if (pair[0] === 'start') attrs.min = pair[1];
            if (pair[0] === 'end') attrs.max = pair[1];
            if (pair[0] === 'step') attrs.step = pair[1];
          });
        }
        if (item.type === 'geopoint') attrs.placeholder = this.t('geopoint_placeholder');
        control = h('input', attrs);
      }
      control.id = id;
      control.name = code;
      control.setAttribute('data-input', '');
      control.setAttribute('aria-describedby', (hintEl ? id + '-hint ' : '') + id + '-error');
      if (this.readonly) control.disabled = true;
      wrap.appendChild(h('label', {'for': id, className: 'q-label', 'data-label': true}, [labelText, req]));
      if (hintEl) wrap.appendChild(hintEl);
      wrap.appendChild(control);
      if (item.type === 'geopoint' && !this.readonly && navigator.geolocation) {
        var locate = h('button', {type: 'button', className: 'secondary', text: this.t('use_location')});
        locate.addEventListener('click', function () {
          navigator.geolocation.getCurrentPosition(function (pos) {
            var c = pos.coords;
            control.value = [c.latitude, c.longitude, c.altitude || 0, c.accuracy || 0].join(' ');
            control.dispatchEvent(new Event('input', {bubbles: true}));
          }, function () {}, {enableHighAccuracy: true, timeout: 30000});
        });
        wrap.appendChild(locate);
      }
    }
    wrap.appendChild(error);
    return wrap;
  };

  // A label with ${field} references filled in from the current answers.
  FormEngine.prototype.labelFor = function (item, values) {
    var text = this.text(item.labels) || item.code;
    if (text.indexOf('${') < 0) return text;
    var answers = values || this.state.answers;
    return text.replace(REF_RE, function (m, name) { return answers[name] !== undefined ? String(answers[name]) : ''; });
  };

  FormEngine.prototype.renderSection = function (screen, si) {
    var self = this;
    var section = this.form.sections[si];
    var title = this.text(section.labels);
    if (title) screen.appendChild(h('h2', {text: title}));
    if (section.repeat) {
      this.renderRepeat(screen, section, si);
      return;
    }
    section.items.forEach(function (item) {
      if (METADATA[item.type] || item.type === 'calculate') return;
      screen.appendChild(self.renderItem(item));
    });
  };

  // The DOM key of a question of a repetition (index from 0).
  function childKey(name, index, code) { return name + '-' + (index + 1) + '-' + code; }

  // A repeat's screen: one box per repetition, and add / remove unless repeat_count fixes how many.
  FormEngine.prototype.renderRepeat = function (screen, section, si) {
    var self = this;
    var name = section.repeat.name;
    var computed = this.compute();
    var label = this.text(section.labels) || name;
    var fixed = computed.sections[si] ? this.fixedCount(section, computed.values, computed.context.repeats) : null;
    var given = this.repetitions(name);
    var list = h('div', {className: 'repetitions', 'data-repetitions': name});
    if (!given.length) list.appendChild(h('p', {className: 'muted', text: this.t('no_repetitions')}));
    given.forEach(function (answers, index) {
      var box = h('fieldset', {className: 'card repetition', 'data-repetition': index + 1}, [
        h('legend', {text: fmt(self.t('repetition'), {label: label, n: index + 1})})
      ]);
      section.items.forEach(function (item) {
        if (METADATA[item.type] || item.type === 'calculate') return;
        box.appendChild(self.renderItem(item, {key: childKey(name, index, item.code), value: answers[item.code] || '',
          repeat: name, index: index}));
      });
      if (fixed === null && !self.readonly) {
        box.appendChild(h('button', {type: 'button', className: 'link', 'data-remove-repetition': name + ':' + index,
          text: self.t('remove_repetition') + ' (' + fmt(self.t('repetition'), {label: label, n: index + 1}) + ')'}));
      }
      list.appendChild(box);
    });
    screen.appendChild(list);
    if (fixed === null && !this.readonly && given.length < MAX_REPETITIONS) {
      screen.appendChild(h('button', {type: 'button', className: 'secondary', 'data-add-repetition': name,
        text: fmt(this.t('add_repetition'), {label: label})}));
    }
  };

  FormEngine.prototype.answeredCount = function (computed) {
    var n = 0;
    var self = this;
    this.items.forEach(function (item) {
      if (METADATA[item.type] || item.type === 'note' || item.type === 'calculate') return;
      if (computed.relevant[item.code] && (self.state.answers[item.code] || '') !== '') n++;
    });
    Object.keys(computed.repeats).forEach(function (name) {
      var given = self.repetitions(name);
      computed.repeats[name].forEach(function (rep, index) {
        self.repeatSections[name].items.forEach(function (item) {
          if (METADATA[item.type] || item.type === 'note' || item.type === 'calculate') return;
          if (rep.relevant[item.code] && ((given[index] || {})[item.code] || '') !== '') n++;
        });
      });
    });
    return n;
  };

  FormEngine.prototype.renderEnd = function (screen, computed) {
    screen.appendChild(h('h2', {text: this.t('end')}));
    screen.appendChild(h('p', {'data-answered': true, text: fmt(this.t('answered'), {n: this.answeredCount(computed)})}));
    if (this.correction && !this.readonly) {
      var note = h('textarea', {id: 'correction-note-input', rows: 3, maxlength: 2000, 'data-note': true});
      note.value = this.state.note || '';
      screen.appendChild(h('div', {className: 'q'}, [
        h('label', {'for': 'correction-note-input', className: 'q-label', text: this.t('correction_note')}), note
      ]));
    }
  };

  // Update visibility, labels and messages of the current screen without re-rendering it.
  FormEngine.prototype.refresh = function () {
    var self = this;
    var computed = this.compute();
    var si = this.state.screen - 1;
    var attempted = !!this.state.attempted[this.state.screen];
    if (si >= 0 && si < this.form.sections.length && this.form.sections[si].repeat) {
      var section = this.form.sections[si];
      (computed.repeats[section.repeat.name] || []).forEach(function (rep, index) {
        section.items.forEach(function (item) {
          var key = childKey(section.repeat.name, index, item.code);
          var el = self.body.querySelector('[data-code="' + cssEscape(key) + '"]');
          if (!el) return;
          el.hidden = !rep.relevant[item.code];
          var show = attempted || self.state.touched[key];
          self.showError(el, show ? self.validateChild(item, index, computed, attempted) : '');
        });
      });
    } else if (si >= 0 && si < this.form.sections.length) {
      this.form.sections[si].items.forEach(function (item) {
        var el = self.body.querySelector('[data-code="' + cssEscape(item.code) + '"]');
        if (!el) return;
        var shown = !!computed.relevant[item.code];
        el.hidden = !shown;
        if (item.choice_filter && self.applyFilter(item, el, computed.values)) {
          computed = self.compute();  // an answer was taken back: what depends on it changes too
          self.scheduleSave();
        }
        if ((self.text(item.labels) || '').indexOf('${') >= 0) {
          var label = el.querySelector('[data-label]');
          if (label && label.firstChild && label.firstChild.nodeType === 3) label.firstChild.nodeValue = self.labelFor(item, computed.values);
        }
        var show = attempted || self.state.touched[item.code];
        var message = show ? self.validate(item, computed, attempted) : '';
        self.showError(el, message);
      });
    } else if (this.state.screen === 0) {
      var errors = this.designErrors(attempted);
      DESIGN_FIELDS.forEach(function (f) {
        var el = self.body.querySelector('[data-design-field="' + f + '"]');
        if (el) self.showError(el, errors[f] || '');
      });
    }
    return computed;
  };

  FormEngine.prototype.showError = function (el, message) {
    var p = el.querySelector('.q-error');
    if (!p) return;
    p.textContent = message;
    p.hidden = !message;
    el.classList.toggle('invalid', !!message);
  };

  function cssEscape(text) {
    if (window.CSS && CSS.escape) return CSS.escape(text);
    return text.replace(/[^A-Za-z0-9_-]/g, function (ch) { return '\\' + ch; });
  }

  // --- events ---

  FormEngine.prototype.bind = function () {
    var self = this;
    this.body.addEventListener('input', function (event) { self.onInput(event); });
    this.body.addEventListener('change', function (event) { self.onInput(event); });
    this.body.addEventListener('click', function (event) { self.onClick(event); });
    window.addEventListener('pagehide', function () { self.saveNow(); });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'hidden') self.saveNow();
    });
  };

  FormEngine.prototype.onInput = function (event) {
    var t = event.target;
    if (t.hasAttribute('data-language')) {  // also on a read-only submission
      if (event.type !== 'change') return;
      this.state.language = t.value;
      storage(LANG_KEY, t.value);
      this.render();
      if (this.onLanguage) this.onLanguage();
      this.scheduleSave();
      var again = this.body.querySelector('[data-language]');
      if (again) again.focus();
      return;
    }
    if (this.readonly) return;
    if (t.hasAttribute('data-note')) {
      this.state.note = t.value;
      this.scheduleSave();
      return;
    }
    var designName = t.getAttribute('data-design');
    if (designName === 'unit') {
      var unit = (this.data.frame || [])[parseInt(t.value, 10)];
      this.state.design.stratum = unit ? unit.stratum : '';
      this.state.design.cluster = unit ? unit.cluster : '';
      this.changed();
      return;
    }
    if (designName) {
      this.state.design[designName] = t.value.trim() === '' ? '' : t.value;
      this.changed();
      return;
    }
    if (!t.hasAttribute('data-input')) return;
    var q = t.closest('[data-code]');
    if (!q) return;
    var code = q.getAttribute('data-code');
    var value;
    var holder = this.state.answers;
    if (q.hasAttribute('data-repeat')) {  // a question of a repetition: its answers live in state.repeats
      holder = this.repetitions(q.getAttribute('data-repeat'))[parseInt(q.getAttribute('data-index'), 10)];
      if (!holder) return;
    }
    var field = q.hasAttribute('data-repeat') ? q.getAttribute('data-child') : code;
    if (t.type === 'checkbox') {
      var boxes = q.querySelectorAll('input[type=checkbox]');
      var names = [];
      for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) names.push(boxes[i].value);
      value = names.join(' ');
    } else {
      value = t.value;
    }
    if ((holder[field] || '') === value && event.type === 'change') {
      this.state.touched[code] = true;
      this.refresh();
      return;
    }
    if (value === '') delete holder[field]; else holder[field] = value;
    this.state.touched[code] = true;
    this.changed();
  };

  FormEngine.prototype.changed = function () {
    if (!this.state.started_at) this.state.started_at = new Date().toISOString();
    this.state.dirty = true;
    this.refresh();
    this.scheduleSave();
  };

  FormEngine.prototype.onClick = function (event) {
    var t = event.target.closest('button');
    if (!t) return;
    if (t.hasAttribute('data-next')) this.next();
    else if (t.hasAttribute('data-back')) this.back();
    else if (t.hasAttribute('data-finish')) this.finish();
    else if (t.hasAttribute('data-save-draft')) this.saveAndLeave();
    else if (t.hasAttribute('data-new')) this.restart();
    else if (t.hasAttribute('data-resume')) this.resume(t.getAttribute('data-resume'));
    else if (t.hasAttribute('data-discard')) this.discard(t.getAttribute('data-discard'));
    else if (t.hasAttribute('data-add-repetition')) this.addRepetition(t.getAttribute('data-add-repetition'));
    else if (t.hasAttribute('data-remove-repetition')) {
      var parts = t.getAttribute('data-remove-repetition').split(':');
      this.removeRepetition(parts[0], parseInt(parts[1], 10));
    }
  };

  FormEngine.prototype.addRepetition = function (name) {
    if (this.readonly) return;
    var given = this.repetitions(name);
    if (given.length >= MAX_REPETITIONS) return;
    given.push({});
    this.changed();
    this.render();
    var boxes = this.body.querySelectorAll('[data-repetition]');
    var input = boxes.length ? boxes[boxes.length - 1].querySelector('input, select, textarea') : null;
    if (input) input.focus();
  };

  FormEngine.prototype.removeRepetition = function (name, index) {
    if (this.readonly) return;
    var given = this.repetitions(name);
    if (index < 0 || index >= given.length) return;
    given.splice(index, 1);
    // what was typed in the later repetitions moves up with them
    var touched = {};
    var self = this;
    Object.keys(this.state.touched).forEach(function (key) {
      var m = key.indexOf(name + '-') === 0 ? /^(\d+)-(.*)$/.exec(key.slice(name.length + 1)) : null;
      if (!m) { touched[key] = self.state.touched[key]; return; }
      var n = parseInt(m[1], 10) - 1;
      if (n < index) touched[key] = true;
      else if (n > index) touched[childKey(name, n - 1, m[2])] = true;
    });
    this.state.touched = touched;
    this.changed();
    this.render();
  };

  FormEngine.prototype.screenErrors = function (screenIndex, computed) {
    var self = this;
    if (screenIndex === 0) return Object.keys(this.designErrors(true));
    var si = screenIndex - 1;
    if (si < 0 || si >= this.form.sections.length || !computed.sections[si]) return [];
    var section = this.form.sections[si];
    if (section.repeat) {
      var keys = [];
      (computed.repeats[section.repeat.name] || []).forEach(function (rep, index) {
        section.items.forEach(function (item) {
          if (self.validateChild(item, index, computed, true) !== '') keys.push(childKey(section.repeat.name, index, item.code));
        });
      });
      return keys;
    }
    return this.form.sections[si].items.filter(function (item) {
      return self.validate(item, computed, true) !== '';
    }).map(function (item) { return item.code; });
  };

  FormEngine.prototype.go = function (screen) {
    this.state.screen = screen;
    this.render();
    this.scheduleSave();
    window.scrollTo(0, 0);
    var heading = this.body.querySelector('.collect-screen h2');
    if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus(); }
  };

  FormEngine.prototype.next = function () {
    var computed = this.compute();
    if (!this.readonly) {
      var errors = this.screenErrors(this.state.screen, computed);
      if (errors.length) {
        this.state.attempted[this.state.screen] = true;
        this.refresh();
        this.flash(this.t('fix'), 'error');
        var first = this.body.querySelector('.q.invalid input, .q.invalid select, .q.invalid textarea');
        if (first) first.focus();
        return;
      }
    }
    var screens = this.visibleScreens(computed);
    var pos = screens.indexOf(this.state.screen);
    this.go(screens[Math.min(pos + 1, screens.length - 1)]);
  };

  FormEngine.prototype.back = function () {
    var screens = this.visibleScreens(this.compute());
    var pos = screens.indexOf(this.state.screen);
    this.go(screens[Math.max(0, pos - 1)]);
  };

  // An answer as the API takes it: a list for multiple choice, numbers with a decimal point.
  function sendable(item, v) {
    if (item.type === 'multiple_choice') return v.split(/\s+/).filter(Boolean);
    if (item.type === 'integer' || item.type === 'decimal') return v.trim().replace(',', '.');
    return v;
  }

  // The API body (SubmissionIn / SubmissionCorrection): relevant answers only, lists for multiple choice.
  FormEngine.prototype.payload = function (computed) {
    var self = this;
    var answers = {};
    this.items.forEach(function (item) {
      if (METADATA[item.type]) {
        // As ODK records them; a correction keeps the values of the original interview.
        var recorded = self.correction ? self.state.answers[item.code] : computed.values[item.code];
        if (recorded) answers[item.code] = recorded;
        return;
      }
      if (item.type === 'note' || item.type === 'calculate') return;
      if (!computed.relevant[item.code]) return;
      var v = self.state.answers[item.code];
      if (v === undefined || v === null || v === '') return;
      answers[item.code] = sendable(item, v);
    });
    this.form.sections.forEach(function (section, si) {  // repeats: one object per repetition
      if (!section.repeat || !computed.sections[si]) return;
      var given = self.repetitions(section.repeat.name);
      var list = (computed.repeats[section.repeat.name] || []).map(function (rep, index) {
        var out = {};
        section.items.forEach(function (item) {
          if (METADATA[item.type] || item.type === 'note' || item.type === 'calculate' || !rep.relevant[item.code]) return;
          var v = (given[index] || {})[item.code];
          if (v !== undefined && v !== null && v !== '') out[item.code] = sendable(item, v);
        });
        return out;
      });
      if (list.length) answers[section.repeat.name] = list;
    });
    var d = this.state.design;
    var body = {answers: answers, language: this.state.language};
    DESIGN_FIELDS.forEach(function (f) { body[f] = (d[f] || '').trim(); });
    var unit = (this.data.frame || [])[this.frameIndex(d)];
    if (unit && unit.weight) body.weight = unit.weight;  // the frame's weight travels with its cluster
    if (this.correction) {
      body.note = this.state.note || '';
      return body;
    }
    body.uuid = this.state.uuid;
    body.wave = this.data.wave_id;
    body.version = this.data.version;
    body.started_at = this.state.started_at;
    body.ended_at = this.state.ended_at;
    return body;
  };

  FormEngine.prototype.finish = function () {
    var self = this;
    var computed = this.compute();
    var screens = this.visibleScreens(computed);
    for (var k = 0; k < screens.length; k++) {
      if (this.screenErrors(screens[k], computed).length) {
        this.state.attempted[screens[k]] = true;
        this.go(screens[k]);
        this.flash(this.t('fix'), 'error');
        return;
      }
    }
    if (!this.correction) {
      if (!this.state.started_at) this.state.started_at = new Date().toISOString();
      this.state.ended_at = new Date().toISOString();
      var sticky = {};
      STICKY_DESIGN.forEach(function (f) { sticky[f] = self.state.design[f] || ''; });
      storage(DESIGN_KEY, JSON.stringify(sticky));
    }
    computed = this.compute();
    var body = this.payload(computed);
    var d = this.state.design;
    var item = this.correction ? {
      key: 'fix:' + this.state.uuid + ':' + (this.correction.revision + 1),
      uuid: this.state.uuid, kind: 'correction', method: this.correction.method, url: this.correction.url
    } : {
      key: this.state.uuid, uuid: this.state.uuid, kind: 'create', method: 'POST', url: this.data.submit_url
    };
    item.payload = body;
    item.username = this.data.username;
    item.label = {survey: this.data.survey_title, wave: this.data.wave.name, respondent: d.respondent_code || '',
      segment: d.segment || ''};
    if (this.saveTimer) { clearTimeout(this.saveTimer); this.saveTimer = null; }
    var finished = this.draftKey();
    this.finishing = true;
    Q.finish(finished, item).then(function (row) {
      self.finishing = false;
      self.state.dirty = false;
      self.done(row);
      Q.flush({force: true});
    }, function (err) {
      self.finishing = false;
      self.flash(self.t('storage_error') + ' ' + err.message, 'error');
    });
  };

  FormEngine.prototype.done = function (row) {
    var self = this;
    clear(this.body);
    this.root.setAttribute('data-screen-name', 'done');
    var status = h('p', {'data-sent-status': true, className: 'muted', text: this.t('queued')});
    var box = h('section', {className: 'collect-screen collect-done', 'data-done': row.key}, [
      h('h2', {text: this.correction ? this.t('correction_saved') : this.t('saved')}),
      h('p', {className: 'muted', text: 'ID ' + row.uuid}),
      status,
      h('div', {className: 'collect-nav'}, [
        this.correction ? null : h('button', {type: 'button', className: 'primary', 'data-new': true, text: this.t('new_interview')}),
        h('a', {className: 'button', href: '/collect', text: this.t('to_list')})
      ])
    ]);
    this.body.appendChild(box);
    var update = function () {
      Q.items().then(function (items) {
        items.forEach(function (i) {
          if (i.key !== row.key) return;
          if (i.status === 'sent') { status.textContent = self.t('sent'); status.className = 'note'; }
          if (i.status === 'refused') { status.textContent = self.t('refused') + ' ' + i.error; status.className = 'error'; }
        });
      });
    };
    this.unsubscribe = Q.subscribe(update);
    window.scrollTo(0, 0);
  };

  FormEngine.prototype.restart = function () {
    if (this.unsubscribe) { this.unsubscribe(); this.unsubscribe = null; }
    var language = this.state.language;
    this.state = this.newState();
    this.state.language = language;
    if (window.history && history.replaceState) history.replaceState(null, '', this.data.form_url);
    this.render();
    this.showDrafts();
    window.scrollTo(0, 0);
  };

  // --- drafts ---

  FormEngine.prototype.draft = function () {
    var st = this.state;
    return {
      key: this.draftKey(), uuid: st.uuid, mode: this.correction ? 'correction' : 'create',
      survey_id: this.data.survey_id, wave_id: this.data.wave_id, form_url: this.data.form_url,
      page_url: window.location.pathname, survey_title: this.data.survey_title, wave_name: this.data.wave.name,
      instrument_version_id: this.data.instrument_version_id, username: this.data.username,
      language: st.language, screen: st.screen, design: st.design, answers: st.answers, repeats: st.repeats,
      started_at: st.started_at, touched: st.touched, note: st.note
    };
  };

  FormEngine.prototype.scheduleSave = function () {
    var self = this;
    if (this.readonly || !Q || !this.state.dirty) return;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(function () { self.saveNow(); }, 400);
  };

  FormEngine.prototype.saveNow = function () {
    if (this.saveTimer) { clearTimeout(this.saveTimer); this.saveTimer = null; }
    if (this.readonly || !Q || !this.state || !this.state.dirty || this.finishing) return Promise.resolve();
    return Q.saveDraft(this.draft()).catch(function (err) {
      if (window.console) console.warn('draft not saved: ' + err.message);
    });
  };

  FormEngine.prototype.saveAndLeave = function () {
    if (!this.state.dirty) {
      window.location.href = '/collect';
      return;
    }
    this.saveNow().then(function () { window.location.href = '/collect'; });
  };

  FormEngine.prototype.showDrafts = function () {
    var self = this;
    if (!Q) return;
    Q.drafts().then(function (drafts) {
      drafts = drafts.filter(function (d) {
        return d.form_url === self.data.form_url && d.mode !== 'correction' && d.key !== self.draftKey() &&
          (!d.username || d.username === self.data.username);
      });
      if (!drafts.length) return;
      var list = h('ul', {className: 'plain draft-list'});
      drafts.forEach(function (d) {
        list.appendChild(h('li', {className: 'draft-row'}, [
          h('span', {text: (d.design && (d.design.respondent_code || d.design.cluster || d.design.segment) || d.uuid.slice(0, 8)) +
            ' · ' + self.t('started') + ' ' + localTime(d.started_at || d.updated_at)}), ' ',
          h('button', {type: 'button', 'data-resume': d.key, text: self.t('resume')}), ' ',
          h('button', {type: 'button', className: 'link', 'data-discard': d.key, text: self.t('discard')})
        ]));
      });
      var box = h('div', {className: 'card draft-box', 'data-form-drafts': true}, [h('h2', {text: self.t('drafts')}), list]);
      var old = self.body.querySelector('[data-form-drafts]');
      if (old) old.parentNode.removeChild(old);
      if (self.state.screen === 0 && !self.state.dirty) self.body.insertBefore(box, self.body.querySelector('.collect-screen'));
    });
  };

  FormEngine.prototype.resume = function (key) {
    var self = this;
    Q.getDraft(key).then(function (d) {
      if (!d) return;
      self.state = self.fromDraft(d);
      if (window.history && history.replaceState) {
        history.replaceState(null, '', self.data.form_url + '?draft=' + encodeURIComponent(key));
      }
      self.render();
    });
  };

  FormEngine.prototype.discard = function (key) {
    var self = this;
    if (!window.confirm(this.t('discard_confirm'))) return;
    Q.deleteDraft(key).then(function () { self.showDrafts(); });
  };

  // --- boot -----------------------------------------------------------------------------------

  function boot() {
    watchConnection();
    var home = document.getElementById('collect-home');
    var app = document.getElementById('collect-app');
    var panel = document.querySelector('[data-queue-panel]');
    if (!Q) {
      if (panel) panel.querySelector('[data-queue-status]').textContent = ui(pageLanguage(), 'q_no_storage');
      return;
    }
    var refreshPanel = queuePanel(panel);
    if (home) homePage(home);
    if (app) {
      var raw = document.getElementById('collect-data');
      var data = JSON.parse(raw.textContent);
      registerWorker([window.location.pathname]);
      var engine = new FormEngine(app, data);
      // the panel and the page speak the interview's language, and follow it when it changes
      pageLanguage = function () { return engine.state ? engine.state.language : engine.initialLanguage(); };
      engine.onLanguage = refreshPanel;
      engine.bind();
      engine.start();
      if (refreshPanel) refreshPanel();
      window.KonbitForm = engine;  // for the browser tests and debugging
    }
    Q.start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}());
