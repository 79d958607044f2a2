// Starts Swagger UI on /openapi.json. validatorUrl: null keeps it from asking
// validator.swagger.io for a badge: the reference makes no request off this origin.
window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
});
