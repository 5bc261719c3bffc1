/* 巡航银行 demo front end. Plain JS, no build step, no timers or randomness on a
 * healthy page: the same data gives the same pixels. window.__BANK__ is written by
 * the server: {page, params, hero, dead, clip, frozen, toast, shift, hang, flood, live}. */
(function () {
  'use strict';

  var CFG = window.__BANK__ || {};
  var PARAMS = CFG.params || {};
  var DEAD = CFG.dead || [];
  var CONFIRM_FROM = 1000;  // transfers from this amount (元) ask a confirm() first

  // ---------------------------------------------------------------- helpers
  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function setText(id, text) { var n = $(id); if (n) n.textContent = text; }
  function show(node) { if (typeof node === 'string') node = $(node); if (node) node.hidden = false; }
  function hide(node) { if (typeof node === 'string') node = $(node); if (node) node.hidden = true; }

  function formatMoney(value) {
    var n = Number(value);
    if (isNaN(n)) return '¥ NaN';
    var neg = n < 0;
    var parts = Math.abs(n).toFixed(2).split('.');
    var int = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return '¥ ' + (neg ? '-' : '') + int + '.' + parts[1];
  }

  function query(name) {
    return new URLSearchParams(window.location.search).get(name);
  }

  // A positive amount with at most two decimals, as a "123.40" string, or null.
  function parseAmount(text) {
    text = String(text || '').trim().replace(/,/g, '');
    if (!/^\d+(\.\d{1,2})?$/.test(text)) return null;
    var n = Number(text);
    if (!(n > 0)) return null;
    return n.toFixed(2);
  }

  function isDead(id) { return DEAD.indexOf(id) !== -1; }

  function ApiError(status, data) {
    this.status = status;
    this.data = data || {};
    this.message = (data && data.error) || ('HTTP ' + status);
  }

  function api(method, path, body) {
    var opts = { method: method, headers: { 'Accept': 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) throw new ApiError(res.status, data);
        return data;
      });
    }, function () {
      throw new ApiError(0, { error: '网络异常' });
    });
  }

  function toLogin() {
    var next = window.location.pathname + window.location.search;
    window.location.href = '/login?next=' + encodeURIComponent(next);
  }

  // ------------------------------------------------- loading / error states
  function finishLoading() {
    var sp = $('spinner');
    if (sp) sp.parentNode.removeChild(sp);
    hide('page-error');
    show('content');
  }

  function showPageError(message, err) {
    var sp = $('spinner');
    if (sp) sp.parentNode.removeChild(sp);
    hide('content');
    setText('page-error-text', message);
    setText('page-error-code', err && err.status ? '错误码 ' + err.status : '');
    show('page-error');
  }

  // A failed load: 401 goes to the login page, anything else is a page error.
  function loadFailed(err) {
    if (err && err.status === 401 && CFG.page !== 'login') return toLogin();
    if (!(err instanceof ApiError)) console.error(err);
    var msg = '加载失败，请稍后重试';
    if (err && err.status === 404 && err.data && err.data.error) msg = err.data.error;
    showPageError(msg, err);
  }

  // A failed action: a business error (4xx) goes to the form's inline message,
  // a server or network failure replaces the page with the error.
  function actionFailed(err, inlineId) {
    if (err && err.status === 401 && CFG.page !== 'login') return toLogin();
    if (err instanceof ApiError && err.status >= 400 && err.status < 500 && inlineId) {
      setText(inlineId, err.message);
      show(inlineId);
      return;
    }
    if (!(err instanceof ApiError)) console.error(err);
    showPageError('操作失败，请稍后重试', err);
  }

  function busy(button, on, text) {
    if (!button) return;
    if (on) {
      button.setAttribute('data-label', button.textContent);
      button.textContent = text || '处理中…';
      button.disabled = true;
    } else {
      button.textContent = button.getAttribute('data-label') || button.textContent;
      button.disabled = false;
    }
  }

  // Submit handling for a form: always stops the browser's own submission; a dead
  // button (fault) swallows the submit so nothing happens.
  function onSubmit(formId, buttonId, handler) {
    var form = $(formId);
    if (!form) return;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (isDead(buttonId)) return;
      handler($(buttonId));
    });
  }

  function onClick(buttonId, handler) {
    var b = $(buttonId);
    if (!b || isDead(buttonId)) return;
    b.addEventListener('click', function (ev) { ev.preventDefault(); handler(b); });
  }

  function waitImage(img) {
    return new Promise(function (resolve) {
      if (img.complete && img.getAttribute('src')) return resolve();
      img.addEventListener('load', function () { resolve(); }, { once: true });
      img.addEventListener('error', function () { resolve(); }, { once: true });
    });
  }

  // ---------------------------------------------------------------- chart
  function drawChart(canvas, points) {
    var width = Math.max(200, Math.round(canvas.clientWidth || 600));
    var height = Math.round(canvas.clientHeight || 220);
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (!points || !points.length) return; // nothing to draw: an empty canvas
    var values = points.map(function (p) { return p.value; });
    var min = Math.min.apply(null, values), max = Math.max.apply(null, values);
    var pad = (max - min) * 0.1 || 0.01;
    min -= pad; max += pad;
    var left = 52, right = 12, top = 12, bottom = 26;
    var w = width - left - right, h = height - top - bottom;
    function x(i) { return left + (w * i) / (points.length - 1); }
    function y(v) { return top + h - ((v - min) / (max - min)) * h; }

    ctx.font = '12px "Noto Sans CJK SC", sans-serif';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 1;
    for (var g = 0; g <= 4; g++) {
      var gv = min + ((max - min) * g) / 4;
      var gy = Math.round(y(gv)) + 0.5;
      ctx.strokeStyle = '#e8ecf2';
      ctx.beginPath(); ctx.moveTo(left, gy); ctx.lineTo(left + w, gy); ctx.stroke();
      ctx.fillStyle = '#8a94a6';
      ctx.textAlign = 'right';
      ctx.fillText(gv.toFixed(4), left - 8, gy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'alphabetic';
    var last = points.length - 1;
    [0, Math.round(last / 3), Math.round((2 * last) / 3), last].forEach(function (i, k) {
      ctx.textAlign = k === 0 ? 'left' : (k === 3 ? 'right' : 'center');
      ctx.fillText('第 ' + points[i].day + ' 日', x(i), height - 6);
    });

    var grad = ctx.createLinearGradient(0, top, 0, top + h);
    grad.addColorStop(0, 'rgba(209, 48, 48, 0.22)');
    grad.addColorStop(1, 'rgba(209, 48, 48, 0)');
    ctx.beginPath();
    ctx.moveTo(x(0), top + h);
    points.forEach(function (p, i) { ctx.lineTo(x(i), y(p.value)); });
    ctx.lineTo(x(points.length - 1), top + h);
    ctx.closePath();
    ctx.fillStyle = grad;
    ctx.fill();

    ctx.beginPath();
    points.forEach(function (p, i) { if (i === 0) ctx.moveTo(x(i), y(p.value)); else ctx.lineTo(x(i), y(p.value)); });
    ctx.strokeStyle = '#d13030';
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.stroke();
  }

  // ---------------------------------------------------------------- pages
  // Each page: load() -> Promise of data (API calls), render(data) -> fills #content
  // (may return a Promise), bind(data) -> attaches handlers.
  var pages = {};

  pages.login = {
    load: function () { return Promise.resolve({}); },
    render: function () {},
    bind: function () {
      onSubmit('login-form', 'login-submit', function (btn) {
        var user = $('username').value.trim();
        var pw = $('password').value;
        hide('login-error');
        if (!user || !pw) {
          setText('login-error', '请输入用户名和密码');
          show('login-error');
          return;
        }
        busy(btn, true, '登录中…');
        api('POST', '/api/login', { username: user, password: pw }).then(function () {
          var next = query('next');
          var safe = next && next.charAt(0) === '/' && next.charAt(1) !== '/' && next.charAt(1) !== '\\';
          window.location.href = safe ? next : '/home';
        }, function (err) {
          busy(btn, false);
          if (err.status === 401) {
            setText('login-error', '用户名或密码错误');
            show('login-error');
          } else {
            actionFailed(err, 'login-error');
          }
        });
      });
    }
  };

  pages.home = {
    load: function () {
      return Promise.all([api('GET', '/api/account'), api('GET', '/api/nav')]);
    },
    render: function (d) {
      var account = d[0], nav = d[1];
      setText('total-assets', formatMoney(account.total_assets));
      setText('account-name', account.name);
      setText('account-no', account.account_no);
      setText('chart-caption', nav.fund + ' · ' + nav.period);
      var img = $('promo-banner');
      img.alt = account.promo.alt;
      img.src = account.promo.image;
      $('promo-link').setAttribute('href', account.promo.link);
      // Reveal only once the banner settled (loaded or failed): no late repaint.
      return waitImage(img);
    },
    after: function (d) {
      // Drawn once the canvas is laid out (content visible).
      drawChart($('nav-chart'), d[1].points);
    }
  };

  pages.funds = {
    load: function () { return api('GET', '/api/funds'); },
    render: function (d) {
      liveQuote(CFG.live);
      var list = $('fund-list');
      d.funds.forEach(function (f) {
        var up = f.change.charAt(0) === '+';
        var link = el('a', { className: 'fund-link', href: '/funds/' + f.code, 'data-code': f.code }, [
          el('span', { className: 'fund-title' }, [
            el('span', { className: 'fund-name', text: f.name }),
            el('span', { className: 'fund-code muted', text: f.code })
          ]),
          el('span', { className: 'fund-type', text: f.type }),
          el('span', { className: 'fund-nav num', text: f.nav }),
          el('span', { className: 'fund-change num ' + (up ? 'up' : 'down'), text: f.change })
        ]);
        list.appendChild(el('li', { className: 'fund-row' }, [link]));
      });
    }
  };

  // The live quote (funds page): a WebSocket the page keeps open, opened again a
  // second after it closes; "连接中…" (aria-busy) until the first quote arrives. The
  // quote's value never changes on a healthy bank, so the pixels do not either.
  var RECONNECT_MS = 1000;
  function liveQuote(live) {
    var box = $('live-quote');
    if (!box || !live || !window.WebSocket) return;
    var scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    var url = scheme + window.location.host + live.path + '?fund=' + encodeURIComponent(live.fund) +
      '&token=' + encodeURIComponent(live.token);
    function connect() {
      var ws = new WebSocket(url);
      ws.addEventListener('message', function (ev) {
        var q;
        try { q = JSON.parse(ev.data); } catch (e) { return; }
        if (!q || q.type !== 'quote') return;
        var price = $('live-quote-price'), name = $('live-quote-name');
        if (price.textContent !== q.nav) price.textContent = q.nav;  // the same value: no repaint
        if (name.textContent !== q.name) name.textContent = q.name;
        if (box.getAttribute('aria-busy') === 'true') {
          box.setAttribute('aria-busy', 'false');
          hide('live-quote-status');
          show(price);
        }
      });
      ws.addEventListener('close', function () { window.setTimeout(connect, RECONNECT_MS); });
    }
    connect();
  }

  pages.fund = {
    load: function () { return api('GET', '/api/funds/' + encodeURIComponent(PARAMS.code)); },
    render: function (d) {
      var f = d.fund;
      document.title = f.name + ' - 巡航银行';
      setText('fund-name', f.name);
      setText('fund-code', f.code);
      setText('fund-risk', f.risk);
      setText('fund-nav', f.nav);
      setText('fund-change', f.change);
      $('fund-change').className = 'stat-value ' + (f.change.charAt(0) === '+' ? 'up' : 'down');
      setText('fund-type', f.type);
      setText('fund-desc', f.description);
    },
    bind: function (d) {
      var min = Number(d.min_purchase);
      onSubmit('buy-form', 'buy-submit', function () {
        hide('buy-error');
        var amount = parseAmount($('buy-amount').value);
        if (amount === null) {
          setText('buy-error', '请输入有效的购买金额');
          show('buy-error');
          return;
        }
        if (Number(amount) < min) {
          setText('buy-error', '最低购买金额为 ' + d.min_purchase + ' 元');
          show('buy-error');
          return;
        }
        window.location.href = '/funds/' + encodeURIComponent(PARAMS.code) + '/sign?amount=' + amount;
      });
    }
  };

  pages.sign = {
    load: function () { return api('GET', '/api/funds/' + encodeURIComponent(PARAMS.code)); },
    render: function (d) {
      var amount = parseAmount(query('amount'));
      if (amount === null) throw new ApiError(400, { error: '购买金额无效' });
      setText('sign-fund-name', d.fund.name);
      setText('sign-amount', formatMoney(amount));
      var code = encodeURIComponent(PARAMS.code);
      $('prospectus-link').setAttribute('href', '/funds/' + code + '/prospectus');
      $('risk-frame').setAttribute('src', '/funds/' + code + '/risk');
    },
    bind: function (d) {
      var amount = parseAmount(query('amount'));
      onSubmit('sign-form', 'sign-submit', function (btn) {
        hide('sign-error');
        if (!$('agree').checked) {
          setText('sign-error', '请先阅读并同意产品协议');
          show('sign-error');
          return;
        }
        if (!riskAgreed()) {
          setText('sign-error', '请先阅读《风险揭示书》并勾选确认');
          show('sign-error');
          return;
        }
        busy(btn, true);
        api('POST', '/api/funds/' + encodeURIComponent(PARAMS.code) + '/buy', { amount: amount, agree: true })
          .then(function (res) {
            hide('sign-card');
            setText('buy-success-amount', formatMoney(res.order.amount));
            setText('buy-success-fund', res.order.fund);
            setText('buy-success-order', res.order.id);
            show('buy-success');
          }, function (err) {
            busy(btn, false);
            actionFailed(err, 'sign-error');
          });
      });
    }
  };

  // The box inside the risk disclosure's iframe (same origin, so readable from here).
  function riskAgreed() {
    try {
      var box = $('risk-frame').contentDocument.getElementById('risk-agree');
      return !!(box && box.checked);
    } catch (e) {
      return false;
    }
  }

  pages.prospectus = {
    load: function () { return api('GET', '/api/funds/' + encodeURIComponent(PARAMS.code)); },
    render: function (d) {
      var f = d.fund;
      document.title = f.name + ' 招募说明书 - 巡航银行';
      setText('prospectus-title', f.name + ' 招募说明书');
      setText('prospectus-code', f.code);
      setText('prospectus-type', f.type);
      setText('prospectus-risk', f.risk);
      setText('prospectus-desc', f.description);
    }
  };

  // Funds dragged (HTML5 drag and drop) from the list onto the comparison box.
  pages.compare = {
    load: function () { return api('GET', '/api/funds'); },
    render: function (d) {
      var source = $('compare-source');
      d.funds.forEach(function (f) {
        source.appendChild(el('li', {
          id: 'compare-fund-' + f.code, className: 'compare-fund', draggable: 'true', 'data-code': f.code
        }, [el('span', { className: 'fund-name', text: f.name }), ' ', el('span', { className: 'muted', text: f.code })]));
      });
    },
    bind: function (d) {
      var byCode = {};
      d.funds.forEach(function (f) { byCode[f.code] = f; });
      var zone = $('compare-zone'), list = $('compare-list');
      Array.prototype.forEach.call(document.querySelectorAll('.compare-fund'), function (item) {
        item.addEventListener('dragstart', function (ev) {
          ev.dataTransfer.setData('text/plain', item.getAttribute('data-code'));
          ev.dataTransfer.effectAllowed = 'copy';
        });
      });
      zone.addEventListener('dragover', function (ev) { ev.preventDefault(); zone.classList.add('over'); });
      zone.addEventListener('dragleave', function () { zone.classList.remove('over'); });
      zone.addEventListener('drop', function (ev) {
        ev.preventDefault();
        zone.classList.remove('over');
        var f = byCode[ev.dataTransfer.getData('text/plain')];
        var count = list.children.length;
        if (!f || count >= 3 || list.querySelector('[data-code="' + f.code + '"]')) return;
        list.appendChild(el('li', { className: 'compare-item', 'data-code': f.code },
          [f.name + ' · 净值 ' + f.nav + ' · ' + f.risk]));
        hide('compare-empty');
        setText('compare-count', '已选 ' + (count + 1) + ' 只');
      });
    }
  };

  pages.transfer = {
    load: function () { return api('GET', '/api/cards'); },
    render: function (d) {
      var select = $('source-card');
      d.cards.forEach(function (c) {
        select.appendChild(el('option', { value: c.id, text: c.label }));
      });
      var preset = parseAmount(query('amount'));
      if (preset) $('amount').value = preset;
      var card = query('card');
      if (card && d.cards.some(function (c) { return c.id === card; })) select.value = card;
    },
    bind: function () {
      onSubmit('transfer-form', 'transfer-next', function () {
        hide('amount-error');
        var amount = parseAmount($('amount').value);
        if (amount === null) {
          setText('amount-error', '请输入大于 0 的金额');
          show('amount-error');
          return;
        }
        if (Number(amount) > 50000) {
          setText('amount-error', '超出单笔限额 50,000.00 元');
          show('amount-error');
          return;
        }
        var card = $('source-card').value;
        window.location.href = '/transfer/confirm?amount=' + amount + '&card=' + encodeURIComponent(card);
      });
    }
  };

  pages.confirm = {
    load: function () { return api('GET', '/api/cards'); },
    render: function (d) {
      var amount = parseAmount(query('amount'));
      var card = d.cards.filter(function (c) { return c.id === query('card'); })[0];
      if (amount === null || !card) throw new ApiError(400, { error: '转入信息无效，请返回重新填写' });
      setText('confirm-amount', formatMoney(amount));
      setText('confirm-card', card.label);
    },
    bind: function (d) {
      var amount = parseAmount(query('amount'));
      var card = query('card');
      var label = d.cards.filter(function (c) { return c.id === card; })[0].label;
      $('transfer-cancel').setAttribute('href', '/transfer?amount=' + amount + '&card=' + encodeURIComponent(card));
      onClick('transfer-confirm', function (btn) {
        hide('transfer-cancelled');
        // Large amounts ask once more; Cancel transfers nothing.
        if (Number(amount) >= CONFIRM_FROM && !window.confirm('确认从' + label + '转入 ' + formatMoney(amount) + '？')) {
          show('transfer-cancelled');
          return;
        }
        busy(btn, true);
        api('POST', '/api/transfer', { amount: amount, card: card }).then(function (res) {
          window.location.href = '/transfer/success?id=' + encodeURIComponent(res.transfer.id);
        }, function (err) {
          busy(btn, false);
          actionFailed(err, null);
        });
      });
    }
  };

  pages.success = {
    load: function () {
      var id = query('id');
      if (!id) return Promise.reject(new ApiError(404, { error: '未找到该笔转入记录' }));
      return api('GET', '/api/transfer/' + encodeURIComponent(id));
    },
    render: function (d) {
      setText('success-amount', formatMoney(d.transfer.amount));
      setText('success-id', d.transfer.id);
      setText('success-card', d.transfer.card.label);
    }
  };

  function renderCardList(cards) {
    var list = $('card-list');
    list.textContent = '';
    cards.forEach(function (c) {
      list.appendChild(el('li', { className: 'card-item', 'data-id': c.id }, [
        el('span', { className: 'card-bank', text: c.bank }),
        el('span', { className: 'card-last4 muted', text: '尾号 ' + c.last4 }),
        el('span', { className: 'card-holder muted', text: c.holder })
      ]));
    });
  }

  pages.cards = {
    load: function () { return api('GET', '/api/cards'); },
    render: function (d) { renderCardList(d.cards); },
    bind: function () {
      bindIdPhoto();
      onSubmit('bind-form', 'bind-submit', function (btn) {
        hide('card-error');
        hide('bind-success');
        var number = $('card-no').value.replace(/[\s-]/g, '');
        var holder = $('card-holder').value.trim();
        if (!number) { setText('card-error', '请输入银行卡号'); show('card-error'); return; }
        if (!holder) { setText('card-error', '请输入持卡人姓名'); show('card-error'); return; }
        busy(btn, true);
        api('POST', '/api/cards', { card_no: number, holder: holder }).then(function (res) {
          busy(btn, false);
          $('card-no').value = '';
          $('card-holder').value = '';
          setText('bind-card-label', res.card.label);
          show('bind-success');
          $('id-form').setAttribute('data-card', res.card.id);
          show('id-form');
          return api('GET', '/api/cards').then(function (d) { renderCardList(d.cards); });
        }, function (err) {
          busy(btn, false);
          actionFailed(err, 'card-error');
        }).catch(function (err) { actionFailed(err, null); });
      });
    }
  };

  function readBase64(file) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(String(reader.result).split(',')[1] || ''); };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsDataURL(file);
    });
  }

  function bindIdPhoto() {
    onSubmit('id-form', 'id-photo-submit', function (btn) {
      hide('id-photo-error');
      hide('id-photo-result');
      var file = $('id-photo').files[0];
      if (!file) { setText('id-photo-error', '请选择身份证照片'); show('id-photo-error'); return; }
      busy(btn, true, '上传中…');
      var cardId = $('id-form').getAttribute('data-card');
      readBase64(file).then(function (data) {
        return api('POST', '/api/cards/' + encodeURIComponent(cardId) + '/photo', { name: file.name, data: data });
      }).then(function (res) {
        busy(btn, false);
        setText('id-photo-result', '已上传：' + res.photo.name + '（' + res.photo.size + ' 字节）');
        show('id-photo-result');
      }, function (err) {
        busy(btn, false);
        actionFailed(err, 'id-photo-error');
      });
    });
  }

  function benefitItem(b) {
    var button = el('button', {
      id: 'claim-' + b.id, type: 'button', className: 'btn claim' + (b.claimed ? ' done' : ' primary'),
      'data-id': b.id, text: b.claimed ? '已领取' : '立即领取'
    });
    if (b.claimed) button.disabled = true;
    return el('li', { className: 'benefit', 'data-id': b.id }, [
      el('div', { className: 'benefit-icon', 'aria-hidden': 'true' }),
      el('div', { className: 'benefit-body' }, [
        el('div', { className: 'benefit-title', text: b.title }),
        el('div', { className: 'benefit-detail muted', text: b.detail })
      ]),
      button
    ]);
  }

  pages.benefits = {
    load: function () { return api('GET', '/api/benefits'); },
    render: function (d) {
      var list = $('benefit-list');
      d.benefits.forEach(function (b) { list.appendChild(benefitItem(b)); });
    },
    bind: function (d) {
      d.benefits.forEach(function (b) {
        onClick('claim-' + b.id, function (btn) {
          hide('claim-success');
          busy(btn, true);
          api('POST', '/api/benefits/' + encodeURIComponent(b.id) + '/claim', {}).then(function (res) {
            btn.textContent = '已领取';
            btn.className = 'btn claim done';
            btn.disabled = true;
            setText('claim-success', '领取成功：' + res.benefit.title);
            show('claim-success');
          }, function (err) {
            busy(btn, false);
            actionFailed(err, null);
          });
        });
      });
    }
  };

  // ---------------------------------------------------------------- faults
  function showToast(text) {
    if (!text || $('toast')) return;
    document.body.appendChild(el('div', { id: 'toast', className: 'toast', role: 'alert', text: text }));
  }

  function scheduleLayoutShift(ms) {
    if (ms === null || ms === undefined) return;
    window.setTimeout(function () {
      if ($('late-banner')) return;
      var banner = el('div', { id: 'late-banner', className: 'late-banner' }, [
        el('div', { className: 'late-banner-title', text: '限时活动：新客理财专享' }),
        el('div', { className: 'late-banner-sub', text: '参考年化 3.20%，1 元起投' })
      ]);
      var main = $('main');
      main.insertBefore(banner, main.firstChild);
    }, ms);
  }

  // A frozen tab (frozen_script) and a dialog flood (dialog_flood), a moment after load.
  function scheduleHang(frozen, flood) {
    if (frozen) window.setTimeout(function () { for (;;) { /* fault: the main thread never answers */ } }, 300);
    if (flood) {
      window.setTimeout(function () {
        for (var n = 1; ; n++) window.alert('系统维护通知（第 ' + n + ' 次）');
      }, 300);
    }
  }

  // ---------------------------------------------------------------- boot
  function bindCommon() {
    onClick('logout', function () {
      api('POST', '/api/logout', {}).then(function () {
        window.location.href = '/login';
      }, function () {
        window.location.href = '/logout';
      });
    });
    onClick('page-retry', function () { window.location.reload(); });
  }

  // slow_hero: the main content, hidden from the first paint (the server's style), shows late.
  function showMainLate(ms) {
    if (!ms) return;
    window.setTimeout(function () { $('main').classList.add('shown'); }, ms);
  }

  function boot() {
    var page = pages[CFG.page];
    showMainLate(CFG.hero);
    // clipped_text: the fault's styles (app.css, .fault-ITEM) switched on for this page.
    (CFG.clip || []).forEach(function (item) { document.body.classList.add('fault-' + item); });
    bindCommon();
    if (!page) return;
    var loaded;
    Promise.resolve()
      .then(function () { return page.load(); })
      .then(function (d) {
        loaded = d;
        if (CFG.frozen) return new Promise(function () {}); // fault: never finishes
        return page.render(d);
      })
      .then(function () {
        finishLoading();
        if (page.after) page.after(loaded);
        if (page.bind) page.bind(loaded);
        afterLoad();
      }, function (err) {
        loadFailed(err);
        afterLoad();
      });
    if (CFG.frozen) afterLoad();
  }

  var afterDone = false;
  function afterLoad() {
    if (afterDone) return;
    afterDone = true;
    showToast(CFG.toast);
    scheduleLayoutShift(CFG.shift);
    scheduleHang(CFG.hang, CFG.flood);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
