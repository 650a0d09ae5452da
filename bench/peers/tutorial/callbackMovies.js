// The tutorial's callbacks program ("How To Write Asynchronous Code in Node.js"), as
// written there, but for the API's address, taken from GHIBLI_API_URL as the C version does.
const request = require('request');
const fs = require('fs');

const api = process.env.GHIBLI_API_URL || 'https://ghibliapi.vercel.app';

request(`${api}/films`, (error, response, body) => {
    if (error) {
        console.error(`Could not send request to API: ${error.message}`);
        return;
    }

    if (response.statusCode != 200) {
        console.error(`Expected status code 200 but received ${response.statusCode}.`);
        return;
    }

    console.log('Processing our list of movies');
    movies = JSON.parse(body);
    let movieList = '';
    movies.forEach(movie => {
        movieList += `${movie['title']}, ${movie['release_date']}\n`;
    });

    fs.writeFile('callbackMovies.csv', movieList, (error) => {
        if (error) {
            console.error(`Could not save the Ghibli movies to a file: ${error}`);
            return;
        }

        console.log('Saved our list of movies to callbackMovies.csv');;
    });
});
