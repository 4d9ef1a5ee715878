// customer360.js: the seed tutorial's "ingestionCustomer360" Eventing function
// (M. Groves, "Customer 360 Data Ingestion"), as c360 runs it.
//
// Source bucket: staging (home-delivery Debezium envelopes, loyalty rows).
// Bindings:
//   cust         bucket alias -> customer360, read-write
//   onlineStore  URL alias    -> the online store's base URL (http://host:port)
//   pollOnlineStore  constant: true to call the online store after each
//                ingest (the seed), false to skip those calls (benchmarks)
//
// End state (docs/eventing.md, "customer360.js"): customer360[email] =
//   {type:"user", profile:{name,address1,address2,phone,city,state},
//    loyaltyPoints, xrefs:[{external_system, external_ID, pass}, ...]}
// with one xref per system, in the order online_store, home_delivery,
// loyalty (the seed's order, whatever order the sources arrive in), and one
// document per order keyed "order::<OrderId>" holding the order as the online
// store returns it. The store's ids (Id, OrderId) may be numbers or strings
// ("27", a UUID): external_ID keeps the Id as given.

var XREF_ORDER = ['online_store', 'home_delivery', 'loyalty'];

function OnUpdate(doc, meta) {
    // when an email comes along, save it here for later
    // to poll the Online CRM API
    var emailToPollOnlineCRM = '';

    if (IsUserDelivery(doc)) {
        emailToPollOnlineCRM = IngestUserDelivery(doc, cust, log);
    }

    if (IsLoyaltyMember(doc)) {
        emailToPollOnlineCRM = IngestLoyaltyMember(doc, cust, log);
    }

    if (emailToPollOnlineCRM && ShouldPollOnlineStore()) {
        PollOnlineCrm(doc, emailToPollOnlineCRM, cust, curl, log);
    }
}

function ShouldPollOnlineStore() {
    return typeof pollOnlineStore === 'undefined' || pollOnlineStore === true || pollOnlineStore === 'true';
}

// A Debezium change event, with schemas (doc.payload) or without (doc itself),
// from the home-delivery database server "dbserver1".
function DebeziumPayload(doc) {
    if (!doc || typeof doc !== 'object')
        return null;
    var p = doc.payload && typeof doc.payload === 'object' ? doc.payload : doc;
    if (p.source && p.source.name === 'dbserver1')
        return p;
    return null;
}

function IsUserDelivery(doc) {
    var p = DebeziumPayload(doc);
    return !!(p && p.after && p.after.email);
}

function IsLoyaltyMember(doc) {
    return !!(doc && doc.points && doc.email);
}

function GetCustomer360DocIfItExists(cust, email) {
    var d = cust[email];
    return d === undefined || d === null ? null : d;
}

// Sets (or replaces) the xref of one system and keeps the canonical order.
function SetXref(customerDoc, system, id, pass) {
    var xrefs = Array.isArray(customerDoc.xrefs) ? customerDoc.xrefs : [];
    var found = false;
    for (var i = 0; i < xrefs.length; i++) {
        if (xrefs[i].external_system === system) {
            xrefs[i] = {external_system: system, external_ID: id, pass: pass};
            found = true;
        }
    }
    if (!found)
        xrefs.push({external_system: system, external_ID: id, pass: pass});
    xrefs.sort(function (a, b) {
        var ia = XREF_ORDER.indexOf(a.external_system), ib = XREF_ORDER.indexOf(b.external_system);
        if (ia < 0) ia = XREF_ORDER.length;
        if (ib < 0) ib = XREF_ORDER.length;
        return ia - ib;
    });
    customerDoc.xrefs = xrefs;
}

// The document's members in the seed's order: type, profile, loyaltyPoints, xrefs.
function Canonical(customerDoc) {
    var out = {type: 'user', profile: customerDoc.profile || {}};
    if (customerDoc.loyaltyPoints !== undefined)
        out.loyaltyPoints = customerDoc.loyaltyPoints;
    out.xrefs = customerDoc.xrefs || [];
    for (var k in customerDoc)
        if (!(k in out))
            out[k] = customerDoc[k];
    return out;
}

function UpdateCustomerDocFromUserDelivery(customerDoc, doc) {
    var a = DebeziumPayload(doc).after;
    var p = customerDoc.profile || {};
    p.name = a.name;
    p.address1 = a.address_line_1;
    if (a.address_line_2 !== undefined && a.address_line_2 !== null && a.address_line_2 !== '')
        p.address2 = a.address_line_2;
    p.phone = a.phonenumber;
    p.city = a.city;
    p.state = a.state;
    customerDoc.profile = p;
    SetXref(customerDoc, 'home_delivery', a.id, a.password);
    return Canonical(customerDoc);
}

function UpdateCustomerDocFromLoyalty(customerDoc, doc) {
    var p = customerDoc.profile || {};
    if (!p.name && (doc.firstName || doc.lastName))
        p.name = [doc.firstName, doc.lastName].filter(function (s) { return !!s; }).join(' ');
    customerDoc.profile = p;
    customerDoc.loyaltyPoints = doc.points;
    SetXref(customerDoc, 'loyalty', doc.id, doc.password);
    return Canonical(customerDoc);
}

// Read-modify-write of one customer document with a CAS check, retried when
// another worker (another staging document of the same person) changed it in
// between: with worker_count > 1 the seed's plain cust[email] = … would lose
// one system's update.
function UpdateCustomer(cust, email, update) {
    for (var attempt = 0; attempt < 20; attempt++) {
        var cur = couchbase.get(cust, {id: email});
        var customerDoc = update(cur.success ? cur.doc : {});
        var res = cur.success
            ? couchbase.replace(cust, {id: email, cas: cur.meta.cas}, customerDoc)
            : couchbase.insert(cust, {id: email}, customerDoc);
        if (res.success)
            return customerDoc;
        if (!res.error || !(res.error.cas_mismatch || res.error.key_already_exists || res.error.key_not_found))
            throw new Error('cannot write customer ' + email + ': ' + JSON.stringify(res.error));
    }
    throw new Error('customer ' + email + ' kept changing: gave up after 20 attempts');
}

function IngestUserDelivery(doc, cust, log) {
    var email = DebeziumPayload(doc).after.email;
    UpdateCustomer(cust, email, function (customerDoc) {
        return UpdateCustomerDocFromUserDelivery(customerDoc, doc);
    });
    return email;
}

function IngestLoyaltyMember(doc, cust, log) {
    var email = doc.email;
    UpdateCustomer(cust, email, function (customerDoc) {
        return UpdateCustomerDocFromLoyalty(customerDoc, doc);
    });
    return email;
}

function PollOnlineCrm(doc, email, cust, curl, log) {
    var customerDoc = GetCustomer360DocIfItExists(cust, email);
    if (!customerDoc)
        return;
    UpdateCustomerDocFromOnlineStore(customerDoc, email, cust, curl, log);
}

// GET with the URL binding (Couchbase 6.5+); a failure is logged and the
// customer document keeps what the other systems gave it.
function OnlineStoreGet(curl, path, params, log) {
    try {
        var r = curl('GET', onlineStore, {path: '/api/onlineStore/' + path, params: params});
        if (r.status !== 200) {
            log('online store', path, 'answered', r.status);
            return null;
        }
        return r.body;
    } catch (e) {
        log('online store', path, 'failed:', e.message);
        return null;
    }
}

// An online-store id: a JSON string (1..200 characters, no control
// characters) or a finite number, as c360 poll and the native mapping take it.
function IsOnlineStoreId(v) {
    if (typeof v === 'number')
        return isFinite(v);
    return typeof v === 'string' && v.length > 0 && v.length <= 200 && !/[\x00-\x1f]/.test(v);
}

function UpdateCustomerDocFromOnlineStore(customerDoc, email, cust, curl, log) {
    var details = OnlineStoreGet(curl, 'getCustomerDetailsByEmail', {customerEmail: email}, log);
    if (!details || typeof details !== 'object')
        return customerDoc;
    if (!IsOnlineStoreId(details.Id)) {
        log('online store answer for', email, 'has no usable "Id" (a string or number):',
            JSON.stringify(details.Id), '- not merged');
        return customerDoc;
    }
    customerDoc = UpdateCustomer(cust, email, function (c) {
        var p = c.profile || {};
        if (!p.name && details.Name)
            p.name = details.Name;
        c.profile = p;
        SetXref(c, 'online_store', details.Id, details.Password);
        return Canonical(c);
    });

    var orders = OnlineStoreGet(curl, 'getOrdersByCustomerId', {customerId: details.Id}, log);
    if (Array.isArray(orders)) {
        for (var i = 0; i < orders.length; i++) {
            var order = orders[i];
            if (order && IsOnlineStoreId(order.OrderId))
                cust['order::' + order.OrderId] = order;
            else
                log('online store order', i, 'of', email, 'has no usable "OrderId" - skipped');
        }
    }
    return customerDoc;
}
