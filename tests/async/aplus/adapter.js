// The Promises/A+ adapter: resolved, rejected and deferred make Calcifer promises, through
// the calcifer_aplus Node-API addon (calcifer_aplus.c). CF_APLUS_ADDON names the addon's file
// (default: calcifer_aplus.node beside this file).
"use strict";

const path = require("path");

const addon = require(process.env.CF_APLUS_ADDON ||
                      path.join(__dirname, "calcifer_aplus.node"));

if (process.env.CF_APLUS_STATS) {
    process.on("exit", () => {
        process.stderr.write("calcifer_aplus: " + JSON.stringify(addon.stats()) + "\n");
    });
}

module.exports = {
    resolved: addon.resolved,
    rejected: addon.rejected,
    deferred: addon.deferred,
};
